import Foundation

extension Array where Element: Sendable {
    /// `transform` applied to every element on all cores, in order; for CPU-bound work over many
    /// items (parsing thousands of job files, decoding thousands of small records). Blocks the
    /// calling thread until every element is done.
    @inlinable
    public func concurrentMap<T: Sendable>(_ transform: @escaping @Sendable (Element) -> T) -> [T] {
        concurrentCompactMap(transform)
    }

    /// ``concurrentMap(_:)`` without the nil results (moved out, never copied).
    // Inlinable, so that it is specialized for the caller's types: unspecialized, every element
    // lent to `transform` and every result moved out was copied through its value witnesses.
    @inlinable
    public func concurrentCompactMap<T: Sendable>(_ transform: @escaping @Sendable (Element) -> T?) -> [T] {
        guard count > 1 else { return compactMap(transform) }
        let slots = Slots<T>(count: count)
        let items = self
        // A few chunks a core, so a slow item does not leave a core idle for long.
        let chunks = Swift.min(count, ProcessInfo.processInfo.activeProcessorCount * 4)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            var index = chunk * items.count / chunks
            let end = (chunk + 1) * items.count / chunks
            // Elements lent to `transform`, not copied (a copy of a large struct retains and
            // releases each of its references, on every core at once).
            items.withUnsafeBufferPointer { elements in
                while index < end {
                    if let value = transform(elements[index]) { slots.put(value, at: index) }
                    index += 1
                }
            }
        }
        return slots.take()
    }
}

/// Result slots each written by exactly one iteration of `concurrentPerform`, read after it
/// returned (which orders the writes before the reads).
@usableFromInline
final class Slots<T>: @unchecked Sendable {
    @usableFromInline let buffer: UnsafeMutableBufferPointer<T?>

    @usableFromInline
    init(count: Int) {
        buffer = .allocate(capacity: count)
        buffer.initialize(repeating: nil)
    }

    deinit {
        buffer.deinitialize()
        buffer.deallocate()
    }

    @inlinable
    func put(_ value: T, at index: Int) { buffer[index] = value }

    /// The results, moved out of their slots (no copy: a copy of a large struct costs a
    /// retain and a release of each of its references).
    @inlinable
    func take() -> [T] {
        var results: [T] = []
        results.reserveCapacity(buffer.count)
        for index in buffer.indices {
            if let value = buffer[index].take() { results.append(value) }
        }
        return results
    }
}
