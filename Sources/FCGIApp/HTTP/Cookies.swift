/// Cookies in and out (RFC 6265): the request's `Cookie` header read by name, and
/// `Set-Cookie` values for the browser sign-in's cookies, which are always host-only,
/// `Secure`, `HttpOnly`, `SameSite=Lax` and `Path=/` (the `__Host-` prefix requires the first
/// three of those and no `Domain`).
enum Cookies {
    /// The request's cookies in order, as `(name, value)`; malformed pairs are skipped. nginx
    /// joins several `Cookie` headers (HTTP/2 sends one per cookie) with `; `.
    ///
    /// Works on the UTF-8 bytes: every delimiter is ASCII, so each cut falls between scalars,
    /// and a session cookie's 3–4 KB header costs one pass with no grapheme breaking (walking
    /// it by `Character` took over a third of the gate's CPU).
    static func parse(_ header: String?) -> [(name: Substring, value: Substring)] {
        guard let header else { return [] }
        let bytes = header.utf8
        var cookies: [(name: Substring, value: Substring)] = []
        var start = bytes.startIndex
        while start < bytes.endIndex {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: ";")) ?? bytes.endIndex
            if let cookie = pair(bytes[start..<end]) { cookies.append(cookie) }
            start = end == bytes.endIndex ? end : bytes.index(after: end)
        }
        return cookies
    }

    /// One `name=value` of a `Cookie` header: blanks before the name and after the value
    /// dropped, a double-quoted value unquoted; nil without `=` or without a name.
    private static func pair(_ bytes: Substring.UTF8View) -> (name: Substring, value: Substring)? {
        guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let name = bytes[..<equals].drop(while: isBlank)
        guard !name.isEmpty else { return nil }
        var value = bytes[bytes.index(after: equals)...]
        while let last = value.last, isBlank(last) { value = value.dropLast() }
        if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
            value = value.dropFirst().dropLast()
        }
        return (Substring(name), Substring(value))
    }

    /// A `Set-Cookie` value for this site's cookies; `maxAge` nil: a browser-session cookie.
    static func setCookie(_ name: String, _ value: String, maxAge: Int64?) -> String {
        var text = "\(name)=\(value); Path=/; Secure; HttpOnly; SameSite=Lax"
        if let maxAge { text += "; Max-Age=\(max(0, maxAge))" }
        return text
    }

    /// A `Set-Cookie` value that deletes `name`.
    static func expire(_ name: String) -> String {
        "\(name)=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0"
    }
}
