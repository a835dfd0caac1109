/// Graph questions about a job's steps and their `needs`.
public enum StepGraph {
    /// A cycle among the steps' `needs` as a path that returns to its start (`a -> b -> a`), or nil.
    /// Unknown references are ignored here; the parser reports them separately.
    public static func cycle(in steps: [StepDefinition]) -> [StepID]? {
        let needs = Dictionary(steps.map { ($0.id, $0.needs) }, uniquingKeysWith: { first, _ in first })
        var state: [StepID: Bool] = [:]  // false: on the current path, true: done
        var path: [StepID] = []
        func visit(_ id: StepID) -> [StepID]? {
            if let done = state[id] {
                guard !done, let start = path.firstIndex(of: id) else { return nil }
                return Array(path[start...]) + [id]
            }
            state[id] = false
            path.append(id)
            for next in needs[id] ?? [] where needs[next] != nil {
                if let found = visit(next) { return found }
            }
            path.removeLast()
            state[id] = true
            return nil
        }
        for step in steps {
            if let found = visit(step.id) { return found }
        }
        return nil
    }

    /// For every step, the steps it needs directly or through others.
    public static func upstream(of steps: [StepDefinition]) -> [StepID: Set<StepID>] {
        let needs = Dictionary(steps.map { ($0.id, $0.needs) }, uniquingKeysWith: { first, _ in first })
        var result: [StepID: Set<StepID>] = [:]
        for step in steps { result[step.id] = upstream(of: step.id, needs: needs) }
        return result
    }

    /// For every step, the steps that need it directly or through others.
    public static func downstream(of steps: [StepDefinition]) -> [StepID: Set<StepID>] {
        var result: [StepID: Set<StepID>] = [:]
        for (step, ancestors) in upstream(of: steps) {
            for ancestor in ancestors { result[ancestor, default: []].insert(step) }
        }
        return result
    }

    /// The steps `step` needs directly or through others, from each step's direct `needs`.
    public static func upstream(of step: StepID, needs: [StepID: [StepID]]) -> Set<StepID> {
        var seen: Set<StepID> = []
        var stack = needs[step] ?? []
        while let next = stack.popLast() {
            guard seen.insert(next).inserted else { continue }
            stack += needs[next] ?? []
        }
        return seen
    }
}
