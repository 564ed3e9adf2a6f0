import Dispatch

private struct UncheckedSendable<T>: @unchecked Sendable { let value: T }

/// Runs `body(i)` for i in 0..<iterations on Dispatch's worker threads and returns when all are done. Kernels pass
/// raw buffer pointers that each iteration uses for a disjoint part of the output; that discipline (not the type
/// system) is what makes it safe, so the closure is deliberately not required to be `@Sendable`.
func parallelFor(_ iterations: Int, _ body: (Int) -> Void) {
    if iterations <= 1 { if iterations == 1 { body(0) }; return }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: iterations) { box.value($0) }
    }
}

/// Splits 0..<count into `parts` contiguous ranges of nearly equal size.
func partition(_ count: Int, parts: Int) -> [Range<Int>] {
    let p = max(1, min(parts, count))
    return (0..<p).map { i in (count * i / p)..<(count * (i + 1) / p) }
}
