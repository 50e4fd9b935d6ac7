import CHiredis
import Platform

/// A Redis reply as Swift values (hiredis's `redisReply`, copied out and freed at once).
enum RedisReply: Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    /// The bulk string's bytes as text, if it is one.
    var text: String? {
        if case .string(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }
}

/// Why a Redis connection failed: hiredis's error text or a refused login, never a command's
/// arguments (AUTH's carry the password).
struct RedisFailure: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

/// Owns one blocking hiredis connection: connected (and logged in, and on its database) in
/// `init`, freed in `deinit`. The only code that imports `CHiredis`.
///
/// After any failure hiredis leaves the context in an error state, so the owner drops the
/// connection and makes a new one. Not `Sendable`: one thread uses it at a time (the
/// subscriber thread its own; request threads the publisher's under the store's lock).
/// Every write runs with SIGPIPE blocked (`Sockets.withoutBrokenPipeSignal`): hiredis 0.14
/// writes with plain `write(2)`, and a Redis that went away would otherwise end the process.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects within `connectTimeout`, then AUTH and SELECT as the endpoint says.
    init(endpoint: RedisEndpoint, connectTimeout: Duration) throws(RedisFailure) {
        let milliseconds = max(1, Int(connectTimeout.milliseconds))
        let context: UnsafeMutablePointer<redisContext>? =
            switch endpoint.address {
            case .tcp(let host, let port): kfc_redis_connect_tcp(host, Int32(port), milliseconds)
            case .unix(let path): kfc_redis_connect_unix(path, milliseconds)
            }
        guard let context else { throw RedisFailure(reason: "cannot allocate a hiredis context") }
        guard context.pointee.err == 0 else {
            let reason = Self.errorText(context)
            redisFree(context)
            throw RedisFailure(reason: "cannot connect: \(reason)")
        }
        self.context = context
        // The connect timeout also bounds each command of the login below.
        try setTimeout(connectTimeout)
        if let password = endpoint.password {
            let arguments = endpoint.username.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            // Only the error's code (WRONGPASS, NOPERM, ...): the rest is not needed.
            switch try command(arguments) {
            case .status: break
            case .error(let message): throw RedisFailure(reason: "AUTH refused (\(message.prefix { $0 != " " }))")
            default: throw RedisFailure(reason: "AUTH: unexpected reply")
            }
        }
        if endpoint.database != 0 {
            if case .error(let message) = try command(["SELECT", String(endpoint.database)]) {
                throw RedisFailure(reason: "SELECT \(endpoint.database) refused: \(message)")
            }
        }
    }

    deinit {
        redisFree(context)
    }

    /// Bounds each later read and write (`SO_RCVTIMEO`/`SO_SNDTIMEO`); a command that runs out
    /// of time fails and leaves the connection unusable.
    func setTimeout(_ timeout: Duration) throws(RedisFailure) {
        guard kfc_redis_set_timeout(context, max(1, Int(timeout.milliseconds))) == REDIS_OK else {
            throw RedisFailure(reason: "cannot set the timeout: \(Self.errorText(context))")
        }
    }

    /// Sends one command and reads its reply. An error reply is a value (`.error`), not a
    /// failure: the connection is still usable.
    func command(_ arguments: [String]) throws(RedisFailure) -> RedisReply {
        let reply = Self.withArgv(arguments) { count, argv, lengths in
            Sockets.withoutBrokenPipeSignal { redisCommandArgv(context, count, argv, lengths) }
        }
        guard let reply else { throw failure("command failed") }
        return Self.take(reply)
    }

    /// Sends several commands in one write and reads their replies in order (one round trip).
    func pipeline(_ commands: [[String]]) throws(RedisFailure) -> [RedisReply] {
        for arguments in commands {
            let appended = Self.withArgv(arguments) { count, argv, lengths in redisAppendCommandArgv(context, count, argv, lengths) }
            guard appended == REDIS_OK else { throw failure("cannot queue a command") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            let status = Sockets.withoutBrokenPipeSignal { redisGetReply(context, &reply) }
            guard status == REDIS_OK, let reply else { throw failure("reading a reply failed") }
            replies.append(Self.take(reply))
        }
        return replies
    }

    /// Writes a command without waiting for its reply (SUBSCRIBE, and PING while subscribed:
    /// their replies arrive through `nextReply`).
    func send(_ arguments: [String]) throws(RedisFailure) {
        let appended = Self.withArgv(arguments) { count, argv, lengths in redisAppendCommandArgv(context, count, argv, lengths) }
        guard appended == REDIS_OK else { throw failure("cannot queue a command") }
        var done: Int32 = 0
        while done == 0 {
            let status = Sockets.withoutBrokenPipeSignal { redisBufferWrite(context, &done) }
            guard status == REDIS_OK else { throw failure("write failed") }
        }
    }

    /// The next reply, waiting at most `timeout` for input; nil when none came in time. The
    /// wait is a `poll`, not a socket timeout: a timed-out read would leave hiredis's context in
    /// an error state, and the subscriber wakes every half second.
    func nextReply(timeout: Duration) throws(RedisFailure) -> RedisReply? {
        if let reply = try bufferedReply() { return reply }
        guard Sockets.waitForInput(on: context.pointee.fd, timeout: timeout) else { return nil }
        guard redisBufferRead(context) == REDIS_OK else { throw failure("read failed") }
        return try bufferedReply()
    }

    /// A reply hiredis has already read in full, if any (no I/O).
    private func bufferedReply() throws(RedisFailure) -> RedisReply? {
        var reply: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &reply) == REDIS_OK else { throw failure("protocol error") }
        return reply.map(Self.take)
    }

    private func failure(_ what: String) -> RedisFailure {
        context.pointee.err != 0 ? RedisFailure(reason: Self.errorText(context)) : RedisFailure(reason: what)
    }

    /// hiredis's error text ("Connection refused", "Server closed the connection", ...).
    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        let text = withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
        return text.isEmpty ? "I/O error" : text
    }

    /// Copies a `redisReply` tree into Swift values and frees it.
    private static func take(_ pointer: UnsafeMutableRawPointer) -> RedisReply {
        defer { freeReplyObject(pointer) }
        return convert(pointer.assumingMemoryBound(to: redisReply.self))
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        func bytes() -> [UInt8] {
            guard let string = value.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: string, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STRING:
            return .string(bytes())
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            guard let elements = value.element else { return .array([]) }
            return .array((0..<value.elements).compactMap { index in elements[index].map(convert) })
        default:
            // REDIS_REPLY_NIL, and anything a newer server might add.
            return .null
        }
    }

    /// Hands hiredis the arguments as `argc`, `argv` and `argvlen` (binary-safe: lengths, not
    /// NUL terminators). The pointers are valid only inside `body`.
    private static func withArgv<Result>(
        _ arguments: [String],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result
    ) -> Result {
        var storage: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(storage.count)
            storage.append(contentsOf: argument.utf8)
            lengths.append(argument.utf8.count)
        }
        storage.append(0)  // a valid base address even when every argument is empty
        return storage.withUnsafeBufferPointer { buffer in
            // Non-empty arrays always have a base address; every command has a name.
            guard let bytes = buffer.baseAddress, !arguments.isEmpty else { preconditionFailure("a Redis command needs a name") }
            let base = UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { argvBuffer in
                lengths.withUnsafeBufferPointer { lengthBuffer in
                    guard let argvBase = argvBuffer.baseAddress, let lengthBase = lengthBuffer.baseAddress else {
                        preconditionFailure("a Redis command needs a name")
                    }
                    return body(Int32(arguments.count), argvBase, lengthBase)
                }
            }
        }
    }
}
