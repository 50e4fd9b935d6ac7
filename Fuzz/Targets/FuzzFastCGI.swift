import Auth
import FoundationEssentials
import FCGIApp
import Glibc
import Logging

/// The `fastcgi` fuzz target: each input is written as a raw byte stream to a fresh connection
/// on a unix socket and served by `FastCGIWorker`, the server's own serve-a-request path
/// (record guard → libfcgi → read → route → write), with a provider that cannot be reached.
final class FuzzFastCGI {
    // nonisolated(unsafe): inputs run one at a time on one thread.
    nonisolated(unsafe) static let shared = FuzzFastCGI()

    private let path = "/tmp/keycloak-fcgi-fuzz-\(getpid()).sock"
    private let listener: FastCGIListener
    private let worker: FastCGIWorker

    private init() {
        do {
            try FastCGIListener.initializeLibrary()
            listener = try FastCGIListener(address: .unix(path: path), backlog: 16, mode: 0o600)
            let configuration = try AppConfiguration.load(environment: [
                "KEYCLOAK_ISSUER": FuzzKeys.issuer, "KEYCLOAK_CLIENT_ID": "fastapi-keycloak", "KEYCLOAK_CLIENT_SECRET": "s",
                "MAX_BODY_BYTES": "4096",
            ])
            let application = buildApplication(
                configuration: configuration, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() },
                makeTransport: { () throws(AuthError) -> any HTTPTransport in Unreachable() })
            worker = try FastCGIWorker(application: application)
        } catch {
            preconditionFailure("fuzz set-up: \(error)")
        }
    }

    private final class Unreachable: HTTPTransport {
        func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse {
            throw AuthError(.identityProviderUnavailable, "fuzzing")
        }
    }

    func run(_ bytes: [UInt8]) {
        let client = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { return }
        defer { close(client) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let utf8 = Array(path.utf8)
            raw.copyBytes(from: utf8.prefix(raw.count - 1))
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { return }
        // Unix socket buffers hold far more than a fuzz input; write it all, then end the stream.
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { break }
            offset += written
        }
        shutdown(client, Int32(SHUT_WR))
        guard let connection = listener.acceptConnection() else { return }
        worker.adopt(connection)
        // Serve every request the guard lets through (kept connections carry several); "stopping"
        // so that the guard does not wait for more bytes than the input has.
        for _ in 0..<4 {
            guard worker.serveNextRequest(isStopping: { true }), worker.hasConnection else { break }
        }
        worker.closeConnection()
    }
}
