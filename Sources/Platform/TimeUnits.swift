/// `Duration` in the units the system calls, metrics and logs want: one conversion each, so no
/// caller does the attosecond arithmetic by hand.
extension Duration {
    /// Whole nanoseconds (rounded toward zero).
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// Whole milliseconds (rounded toward zero).
    public var milliseconds: Int64 {
        nanoseconds / 1_000_000
    }

    /// Seconds as a floating-point number.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Milliseconds with three decimals ("12.345"), for log lines; no `String(format:)`
    /// (NSString formatting showed up in profiles).
    public var millisecondsText: String {
        let microseconds = nanoseconds / 1000
        let fraction = String(microseconds % 1000)
        return "\(microseconds / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}
