import JobFormat

/// Who follows whom among the loaded jobs (`on: { job: … }`), and the jobs whose triggers would
/// start each other for ever (a load-time error).
struct TriggerGraph: Sendable {
    struct Follower: Sendable {
        let job: JobID
        let states: [String]
    }

    /// By the job whose runs end: the jobs its ends start.
    private(set) var followers: [JobID: [Follower]] = [:]
    /// The path triggers of the loaded, enabled jobs.
    private(set) var paths: [JobID: Triggers] = [:]

    init() {}

    init(_ jobs: [Job]) {
        for job in jobs where job.enabled {
            guard let on = job.triggers else { continue }
            for upstream in on.jobs {
                followers[upstream, default: []].append(Follower(job: job.id, states: on.states))
            }
            if !on.paths.isEmpty { paths[job.id] = on }
        }
        for key in followers.keys { followers[key]?.sort { $0.job < $1.job } }
    }

    /// The jobs a run of `job` that ended as `state` starts.
    func followers(of job: JobID, endedAs state: String) -> [JobID] {
        (followers[job] ?? []).filter { $0.states.contains(state) }.map(\.job)
    }

    /// Each cycle of `on: { job: … }` among `jobs`, as the path around it (`a`, `b`, `a`).
    static func cycles(in jobs: [Job]) -> [[JobID]] {
        var upstreams: [JobID: [JobID]] = [:]
        for job in jobs where job.enabled { upstreams[job.id] = job.triggers?.jobs ?? [] }
        var state: [JobID: Int] = [:]  // 1: on the path, 2: done
        var path: [JobID] = []
        var found: [[JobID]] = []
        func visit(_ id: JobID) {
            state[id] = 1
            path.append(id)
            for next in upstreams[id] ?? [] where upstreams[next] != nil {
                switch state[next] {
                case 1?:
                    if let start = path.firstIndex(of: next) { found.append(Array(path[start...]) + [next]) }
                case nil: visit(next)
                default: break
                }
            }
            path.removeLast()
            state[id] = 2
        }
        for id in upstreams.keys.sorted() where state[id] == nil { visit(id) }
        return found
    }
}
