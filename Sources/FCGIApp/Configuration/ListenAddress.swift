/// Where the responder accepts FastCGI connections (`FCGI_LISTEN`).
enum ListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// `unix:/path/to/socket`.
    case unix(path: String)
    /// `host:port`, or `:port` for every IPv4 interface.
    case tcp(host: String, port: Int)

    /// Parses `unix:/path` or `host:port`.
    init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst("unix:".count))
            // libfcgi's FCGX_OpenSocket reads any path containing ':' as host:port.
            guard path.hasPrefix("/"), !path.contains(":"), path.utf8.count < 108 else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"),
            let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port)
        else { return nil }
        let host = String(text[..<colon])
        guard !host.contains(":"), !host.contains("/") else { return nil }
        self = .tcp(host: host, port: port)
    }

    /// The argument `FCGX_OpenSocket` expects.
    var socketPath: String {
        switch self {
        case .unix(let path): path
        case .tcp(let host, let port): "\(host):\(port)"
        }
    }

    var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "\(host):\(port)"
        }
    }
}
