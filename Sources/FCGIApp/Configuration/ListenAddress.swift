/// Where the responder accepts FastCGI connections (`FCGI_LISTEN`).
package enum ListenAddress: Equatable, Sendable, CustomStringConvertible {
    /// `unix:/path/to/socket`.
    case unix(path: String)
    /// `host:port`, or `:port` for every IPv4 interface.
    case tcp(host: String, port: Int)
    /// `systemd`: the listening socket passed by systemd socket activation (`LISTEN_FDS`).
    case systemd

    /// Parses `unix:/path`, `host:port` or `systemd`.
    init?(_ text: String) {
        if text == "systemd" {
            self = .systemd
            return
        }
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

    /// The argument `FCGX_OpenSocket` expects (nil for an inherited socket).
    var socketPath: String? {
        switch self {
        case .unix(let path): path
        case .tcp(let host, let port): "\(host):\(port)"
        case .systemd: nil
        }
    }

    package var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): "\(host):\(port)"
        case .systemd: "systemd"
        }
    }
}
