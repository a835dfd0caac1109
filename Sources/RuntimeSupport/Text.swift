extension String {
    /// The string without the whitespace (Unicode's) at either end, without a copy.
    public func trimmingWhitespace() -> Substring {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return view
    }
}
