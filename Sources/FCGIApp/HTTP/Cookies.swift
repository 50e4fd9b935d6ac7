/// Cookies in and out (RFC 6265): the request's `Cookie` header read by name, and
/// `Set-Cookie` values for the browser sign-in's cookies, which are always host-only,
/// `Secure`, `HttpOnly`, `SameSite=Lax` and `Path=/` (the `__Host-` prefix requires the first
/// three of those and no `Domain`).
enum Cookies {
    /// The request's cookies in order, as `(name, value)`; malformed pairs are skipped. nginx
    /// joins several `Cookie` headers (HTTP/2 sends one per cookie) with `; `.
    static func parse(_ header: String?) -> [(name: Substring, value: Substring)] {
        guard let header else { return [] }
        var cookies: [(name: Substring, value: Substring)] = []
        for pair in header.split(separator: ";") {
            guard let equals = pair.firstIndex(of: "=") else { continue }
            let name = pair[..<equals].drop { $0 == " " || $0 == "\t" }
            var value = pair[pair.index(after: equals)...]
            while value.last == " " || value.last == "\t" { value = value.dropLast() }
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            guard !name.isEmpty else { continue }
            cookies.append((name, value))
        }
        return cookies
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
