import Platform
import Testing

@Suite("Duration units")
struct TimeUnitsTests {
    @Test(
        "nanoseconds, milliseconds, seconds and the log text agree",
        arguments: [
            (Duration.seconds(2), Int64(2_000_000_000), Int64(2000), 2.0, "2000.000"),
            (.milliseconds(1500), 1_500_000_000, 1500, 1.5, "1500.000"),
            (.microseconds(12_345), 12_345_000, 12, 0.012345, "12.345"),
            (.nanoseconds(999), 999, 0, 0.000000999, "0.000"),
            (.microseconds(7), 7_000, 0, 0.000007, "0.007"),
            (.zero, 0, 0, 0, "0.000"),
        ])
    func units(duration: Duration, nanoseconds: Int64, milliseconds: Int64, seconds: Double, text: String) {
        #expect(duration.nanoseconds == nanoseconds)
        #expect(duration.milliseconds == milliseconds)
        #expect(abs(duration.seconds - seconds) < 1e-12)
        #expect(duration.millisecondsText == text)
    }
}
