/// Where `/oauth2/start?rd=` may send the browser after sign-in: a path on this site, or a URL
/// on an allow-listed origin. Everything else is refused, as an open redirect would let anyone
/// send a user from this site's sign-in to a page of their choosing.
enum SignInRedirect {
    /// `rd` when it is safe, else nil. A path must start with a single `/` and contain no
    /// backslash, control character or space, and no `%2f`/`%5c` (encoded slash or backslash)
    /// anywhere: browsers treat `/\host`, `//host` and their encoded or tab-split variants as
    /// another host.
    static func validate(_ target: String, allowedOrigins: [String]) -> String? {
        guard !target.isEmpty, target.utf8.count <= 2048 else { return nil }
        guard target.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0 != "\\" }) else { return nil }
        let lower = target.lowercased()
        if lower.hasPrefix("/") {
            guard !lower.hasPrefix("//"), !lower.contains("%2f"), !lower.contains("%5c"), !lower.contains("%09"),
                !lower.contains("%0a"), !lower.contains("%0d"), !lower.contains("%00")
            else { return nil }
            return target
        }
        // An absolute URL: exactly an allowed origin, then the end, a path, a query or a fragment.
        for origin in allowedOrigins where lower.hasPrefix(origin) {
            let rest = lower.dropFirst(origin.count)
            guard let next = rest.first else { return target }
            if next == "/" || next == "?" || next == "#" {
                guard !rest.hasPrefix("//"), !lower.contains("%2f%2f") else { return nil }
                return target
            }
        }
        return nil
    }
}
