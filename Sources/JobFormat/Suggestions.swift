import Yams

/// The candidate within edit distance 2 of `word` (and closer than the word's length), if any:
/// the "did you mean" of diagnostics.
func closest(_ word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < word.count else { return nil }
    return best.0
}

/// Levenshtein distance.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

extension Node.Scalar {
    /// The YAML type: plain `3` is an int, `'3'` a string, `~` null. Plain scalars are typed by
    /// ``PlainScalar/tag(of:)`` (Yams resolves a hashed key to `str` with the rule-less resolver,
    /// so a plain `str` is typed the same way; an explicit `!!str` on a plain scalar is rare enough).
    var tagName: Tag.Name {
        let name = Tag.Name(rawValue: tag.rawValue)
        if name == .implicit || (name == .str && style == .plain) { return PlainScalar.tag(of: string) }
        return name == .nonSpecific ? .str : name
    }
}
