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
}
