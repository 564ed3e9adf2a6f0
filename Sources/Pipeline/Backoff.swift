/// Retry delay after a failed attempt: attempt⁴ seconds, ±10 % jitter so a burst of failures does not retry in
/// lockstep (1 s, 16 s, 81 s, 256 s, 625 s …).
public enum Backoff {
    public static func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: -0.1...0.1)) -> Double {
        let base = Double(attempt * attempt * attempt * attempt)
        return max(1, base * (1 + jitter))
    }
}
