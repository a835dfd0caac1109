import JobFormat

/// A step, or one item of a `for_each` step.
public struct StepSlot: Sendable, Hashable {
    public var step: StepID
    public var item: Int?

    public init(_ step: StepID, item: Int? = nil) {
        self.step = step
        self.item = item
    }
}
