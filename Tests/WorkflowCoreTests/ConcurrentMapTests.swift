import RuntimeSupport
import Testing

@Suite struct ConcurrentMapTests {
    @Test func resultsKeepTheOrderOfTheElements() {
        let numbers = Array(0..<10_000)
        #expect(numbers.concurrentMap { $0 * 2 } == numbers.map { $0 * 2 })
        #expect([7].concurrentMap { $0 + 1 } == [8])
        #expect([Int]().concurrentMap { $0 } == [])
    }

    @Test func compactMapDropsTheNilsAndKeepsTheOrder() {
        let numbers = Array(0..<10_000)
        let odd = numbers.concurrentCompactMap { $0 % 2 == 1 ? String($0) : nil }
        #expect(odd == numbers.compactMap { $0 % 2 == 1 ? String($0) : nil })
        #expect([1].concurrentCompactMap { _ -> Int? in nil } == [])
    }

    /// A transform that returns optionals through `concurrentMap` keeps its nils in place.
    @Test func mapKeepsOptionalResults() {
        let numbers = Array(0..<1_000)
        let halves: [Int?] = numbers.concurrentMap { $0 % 2 == 0 ? $0 / 2 : nil }
        #expect(halves.count == 1_000)
        #expect(halves == numbers.map { $0 % 2 == 0 ? $0 / 2 : nil })
    }
}
