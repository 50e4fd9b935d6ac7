import Auth

/// The session cookie as the browser holds it: one cookie `<name>` when the sealed session
/// fits, otherwise chunks `<name>_0`, `<name>_1`, … as oauth2-proxy splits its cookie (a
/// browser keeps at most about 4 KB per cookie). The chunks are pieces of one sealed value,
/// so a missing, truncated, altered or reordered chunk makes the whole session unreadable.
struct SessionCookieJar: Sendable {
    let name: String
    let keyring: SessionKeyring

    /// The longest value in one cookie; with the name and attributes it stays under 4 KB.
    static let chunkSize = 3800
    /// More chunks than this are never written (16 KB of session is far beyond what Keycloak's
    /// tokens need) and never read.
    static let maximumChunks = 4

    /// The sealed session the request carries, or nil when it carries none.
    func sealedValue(in cookies: [(name: Substring, value: Substring)]) -> Substring? {
        if let whole = cookies.first(where: { $0.name == name }) { return whole.value }
        var joined = ""
        for index in 0..<Self.maximumChunks {
            let chunkName = "\(name)_\(index)"
            guard let chunk = cookies.first(where: { $0.name == chunkName }) else { break }
            joined += chunk.value
        }
        return joined.isEmpty ? nil : Substring(joined)
    }

    /// Whether the request carries any cookie of this session (whole or chunk).
    func isPresent(in cookies: [(name: Substring, value: Substring)]) -> Bool {
        cookies.contains { isSessionCookieName($0.name) }
    }

    private func isSessionCookieName(_ candidate: Substring) -> Bool {
        guard candidate.hasPrefix(name) else { return false }
        let rest = candidate.dropFirst(name.count)
        return rest.isEmpty || (rest.first == "_" && rest.dropFirst().allSatisfy(\.isNumber) && rest.count > 1)
    }

    /// The `Set-Cookie` values that store `session`, and delete the cookies of the request's
    /// session layout that the new one does not use (a session that shrank from two chunks to
    /// one must not leave a stale `_1` behind). Nil when the session is too large to store.
    func setCookies(for session: BrowserSession, maxAge: Int64?, replacing cookies: [(name: Substring, value: Substring)]) -> [String]? {
        let sealed = session.sealed(with: keyring)
        var written: [String] = []
        var values: [String] = []
        if sealed.utf8.count <= Self.chunkSize {
            written = [name]
            values = [Cookies.setCookie(name, sealed, maxAge: maxAge)]
        } else {
            var rest = Substring(sealed)
            var index = 0
            while !rest.isEmpty {
                guard index < Self.maximumChunks else { return nil }
                let chunk = rest.prefix(Self.chunkSize)
                rest = rest.dropFirst(chunk.count)
                let chunkName = "\(name)_\(index)"
                written.append(chunkName)
                values.append(Cookies.setCookie(chunkName, String(chunk), maxAge: maxAge))
                index += 1
            }
        }
        for cookie in cookies where isSessionCookieName(cookie.name) && !written.contains(String(cookie.name)) {
            values.append(Cookies.expire(String(cookie.name)))
        }
        return values
    }

    /// `Set-Cookie` values deleting every session cookie the request carries.
    func clearCookies(_ cookies: [(name: Substring, value: Substring)]) -> [String] {
        var names: [String] = []
        for cookie in cookies where isSessionCookieName(cookie.name) && !names.contains(String(cookie.name)) {
            names.append(String(cookie.name))
        }
        return names.map(Cookies.expire)
    }
}
