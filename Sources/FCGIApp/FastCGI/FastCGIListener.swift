import CFastCGI
import Glibc

/// The listening socket, opened by libfcgi. Owns the descriptor and, for a unix socket, the
/// socket file.
final class FastCGIListener {
    struct OpenError: Error, CustomStringConvertible {
        let description: String
    }

    let address: ListenAddress
    let descriptor: Int32

    /// `FCGX_Init` once per process, before any listener or request.
    static func initializeLibrary() throws(OpenError) {
        guard FCGX_Init() == 0 else {
            throw OpenError(description: "FCGX_Init failed")
        }
    }

    /// Opens the socket. A stale unix socket file from an earlier run is replaced; the new one
    /// gets `mode` so that nginx's worker user can connect.
    init(address: ListenAddress, backlog: Int, mode: Int) throws(OpenError) {
        if case .unix(let path) = address {
            var status = stat()
            if lstat(path, &status) == 0 {
                guard status.st_mode & S_IFMT == S_IFSOCK else {
                    throw OpenError(description: "\(path) exists and is not a socket")
                }
                unlink(path)
            }
        }
        let descriptor = FCGX_OpenSocket(address.socketPath, Int32(backlog))
        guard descriptor >= 0 else {
            throw OpenError(description: "cannot listen on \(address): \(String(cString: strerror(errno)))")
        }
        if case .unix(let path) = address {
            guard chmod(path, mode_t(mode)) == 0 else {
                Glibc.close(descriptor)
                throw OpenError(description: "cannot chmod \(path): \(String(cString: strerror(errno)))")
            }
        }
        self.address = address
        self.descriptor = descriptor
    }

    /// Stops accepting: threads blocked in accept() return at once.
    func shutdownAccepting() {
        FCGX_ShutdownPending()
        Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    deinit {
        Glibc.close(descriptor)
        if case .unix(let path) = address {
            unlink(path)
        }
    }
}
