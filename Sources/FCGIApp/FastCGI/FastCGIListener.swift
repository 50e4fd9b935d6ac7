import CFastCGI
import FoundationEssentials
import Glibc

/// The listening socket, opened by libfcgi. Owns the descriptor and, for a unix socket, the
/// socket file.
package final class FastCGIListener {
    package struct OpenError: Error, CustomStringConvertible {
        package let description: String
    }

    let address: ListenAddress
    let descriptor: Int32

    /// `FCGX_Init` once per process, before any listener or request.
    package static func initializeLibrary() throws(OpenError) {
        guard FCGX_Init() == 0 else {
            throw OpenError(description: "FCGX_Init failed")
        }
    }

    /// Opens the socket. A stale unix socket file from an earlier run is replaced; the new one
    /// gets `mode` so that nginx's worker user can connect. With `systemd`, takes the socket
    /// systemd passed instead (sd_listen_fds(3): fd 3, `LISTEN_PID` must be this process;
    /// `systemd` carries what systemd said, read with the configuration).
    package init(address: ListenAddress, backlog: Int, mode: Int, systemd: SystemdSockets = SystemdSockets()) throws(OpenError) {
        guard let socketPath = address.socketPath else {
            self.address = address
            self.descriptor = try Self.inheritedSocket(systemd)
            return
        }
        if case .unix(let path) = address {
            var status = stat()
            if lstat(path, &status) == 0 {
                guard status.st_mode & S_IFMT == S_IFSOCK else {
                    throw OpenError(description: "\(path) exists and is not a socket")
                }
                unlink(path)
            }
        }
        let descriptor = FCGX_OpenSocket(socketPath, Int32(backlog))
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

    /// The first socket of systemd socket activation, checked to be a listening stream socket.
    private static func inheritedSocket(_ systemd: SystemdSockets) throws(OpenError) -> Int32 {
        guard let pid = systemd.pid, pid == getpid(), let count = systemd.count, count >= 1 else {
            throw OpenError(description: "FCGI_LISTEN=systemd but no socket was passed (LISTEN_PID/LISTEN_FDS)")
        }
        let descriptor: Int32 = 3  // SD_LISTEN_FDS_START
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting == 1 else {
            throw OpenError(description: "fd 3 from systemd is not a listening socket")
        }
        // Not for child processes (sd_listen_fds with unset_environment).
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return descriptor
    }

    /// Accepts the next connection; nil once the listener is shut down (or on an error other
    /// than an interrupted or aborted accept, which are retried).
    package func acceptConnection() -> Int32? {
        while true {
            let connection = Glibc.accept(descriptor, nil, nil)
            if connection >= 0 {
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                return connection
            }
            switch errno {
            case EINTR, ECONNABORTED, EPROTO: continue
            default: return nil
            }
        }
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
