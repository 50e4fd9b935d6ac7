/// Where the Redis of the revocation store is and how to log in, parsed from its URL:
///
/// - `redis://[[user]:password@]host[:port][/db]` (port 6379 and database 0 by default; an
///   IPv6 address in brackets; user and password percent-encoded when they contain `:`, `@`,
///   `/` or `%`);
/// - `redis+unix://[[user]:password@]/path/to/redis.sock[?db=N]`, or the same with `unix://`.
///
/// `rediss://` is refused: hiredis 0.14 has no TLS (reach a remote Redis through a local TLS
/// tunnel, or over a unix socket). Errors describe what is wrong without repeating the URL, and
/// `displayName` (what logs show) is the host and port or the socket path: the password never
/// appears in a log line or an error.
struct RedisEndpoint: Sendable, Equatable {
    enum Address: Sendable, Equatable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    let address: Address
    /// The ACL user for `AUTH user password` (Redis 6+); nil for `AUTH password`.
    let username: String?
    let password: String?
    let database: Int

    static let defaultPort = 6379

    /// `host:port` (`[v6]:port`) or the socket path: never the password.
    var displayName: String {
        switch address {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }

    init(url: String) throws(AuthError) {
        guard let separator = url.firstRange(of: "://") else {
            throw Self.invalid("it has no scheme")
        }
        let scheme = url[..<separator.lowerBound].lowercased()
        let rest = Substring(url[separator.upperBound...])
        switch scheme {
        case "redis":
            try self.init(tcp: rest)
        case "redis+unix", "unix":
            try self.init(unixSocket: rest)
        case "rediss":
            throw Self.invalid("rediss:// (TLS) is not supported by hiredis 0.14; use a local TLS tunnel or a unix socket")
        default:
            // The scheme is echoed only when it looks like one, so a pasted secret is not.
            let shown = scheme.count <= 16 && scheme.allSatisfy { $0.isLetter || $0 == "+" } ? " '\(scheme)'" : ""
            throw Self.invalid("the scheme\(shown) is not supported")
        }
    }

    private init(tcp rest: Substring) throws(AuthError) {
        if rest.contains("?") || rest.contains("#") { throw Self.invalid("query parameters and fragments are not supported") }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let (username, password, hostPort) = try Self.splitCredentials(rest[..<authorityEnd])
        let (host, port) = try Self.splitHostPort(hostPort)
        let path = rest[authorityEnd...]
        let database: Int
        if path.isEmpty || path == "/" {
            database = 0
        } else {
            database = try Self.databaseNumber(path.dropFirst())
        }
        self.address = .tcp(host: host, port: port)
        self.username = username
        self.password = password
        self.database = database
    }

    private init(unixSocket rest: Substring) throws(AuthError) {
        if rest.contains("#") { throw Self.invalid("fragments are not supported") }
        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        let beforeQuery = rest[..<queryStart]
        guard let pathStart = beforeQuery.firstIndex(of: "/") else {
            throw Self.invalid("a unix socket URL needs an absolute path (unix:///path/to/redis.sock)")
        }
        let (username, password, host) = try Self.splitCredentials(beforeQuery[..<pathStart])
        guard host.isEmpty else {
            throw Self.invalid("a unix socket URL has no host: write unix:///path/to/redis.sock (three slashes)")
        }
        let path = String(beforeQuery[pathStart...])
        guard path.count > 1, !path.hasSuffix("/") else {
            throw Self.invalid("a unix socket URL needs the socket's path (unix:///path/to/redis.sock)")
        }
        var database = 0
        if queryStart < rest.endIndex {
            let query = rest[rest.index(after: queryStart)...]
            guard query.hasPrefix("db=") else {
                throw Self.invalid("the only query parameter of a unix socket URL is db=N")
            }
            database = try Self.databaseNumber(query.dropFirst(3))
        }
        self.address = .unix(path: path)
        self.username = username
        self.password = password
        self.database = database
    }

    /// `[[user]:password@]rest` → user, password, rest. The last `@` ends the credentials, so
    /// an unencoded `@` in a password still parses.
    private static func splitCredentials(_ authority: Substring) throws(AuthError) -> (String?, String?, Substring) {
        guard let at = authority.lastIndex(of: "@") else { return (nil, nil, authority) }
        let credentials = authority[..<at]
        guard let colon = credentials.firstIndex(of: ":") else {
            throw invalid("credentials need a colon before the password: redis://:password@host or redis://user:password@host")
        }
        let user = try percentDecoded(credentials[..<colon], what: "user name")
        let password = try percentDecoded(credentials[credentials.index(after: colon)...], what: "password")
        guard !password.isEmpty else { throw invalid("the password is empty") }
        return (user.isEmpty ? nil : user, password, authority[authority.index(after: at)...])
    }

    private static func splitHostPort(_ hostPort: Substring) throws(AuthError) -> (String, Int) {
        let host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("an IPv6 address lacks its closing ]") }
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected characters after the IPv6 address") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw invalid("the IPv6 address is not valid")
            }
        } else {
            let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { throw invalid("an IPv6 address must be in brackets: redis://[::1]:6379") }
            host = parts[0]
            portText = parts.count == 2 ? parts[1] : nil
            guard !host.isEmpty else { throw invalid("it has no host") }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
                throw invalid("the host has characters a host name cannot have")
            }
        }
        guard let portText else { return (String(host), defaultPort) }
        guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let port = Int(portText),
            (1...65535).contains(port)
        else {
            throw invalid("the port must be a number from 1 to 65535")
        }
        return (String(host), port)
    }

    private static func databaseNumber(_ text: Substring) throws(AuthError) -> Int {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy(\.isASCIIDigit), let number = Int(text) else {
            throw invalid("the database must be a number (redis://host:6379/0)")
        }
        return number
    }

    /// Strict percent-decoding: a `%` must start two hex digits, and the result must be UTF-8.
    private static func percentDecoded(_ text: Substring, what: String) throws(AuthError) -> String {
        guard let bytes = HTTPURI.percentDecoded(String(text)) else {
            throw invalid("the \(what) has a % not followed by two hex digits (percent-encode % as %25)")
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else { throw invalid("the \(what) is not UTF-8") }
        return decoded
    }

    /// The error for a bad URL. `AuthError`'s codes are closed and the HTTP layer maps each, so
    /// this start-up error borrows `identityProviderUnavailable` (an unusable dependency); the
    /// context says exactly what is wrong and never repeats the URL.
    private static func invalid(_ problem: String) -> AuthError {
        AuthError(
            .identityProviderUnavailable,
            "revocation store URL: \(problem) (expected redis://[user:password@]host[:port][/db] or unix:///path/to/redis.sock)")
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
