import Auth
import FoundationEssentials
import FCGIApp
import Glibc
import Logging
import Platform

#if KEYCLOAK_FCGI_FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runLibFuzzer(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
#endif

/// The fuzz targets, apart from the product (jwt-kit keeps its fuzz tests apart the same way):
/// - `token`: JWS parsing and verification against a fixed key set (`FuzzKeys`);
/// - `form`: urlencoded and multipart form decoding (byte 0 picks the content type);
/// - `fastcgi`: a raw FastCGI record stream through the record guard, libfcgi and the worker's
///   one serve-a-request path (the provider is unreachable);
/// - `provider`: the provider's answers (discovery, JWKS, token, introspection, userinfo,
///   logout) through `KeycloakClient` (byte 0 picks the call, byte 1 the status).
/// Every input must end without a crash, a sanitizer report or a hang.
///
/// Built by scripts/fuzz.sh with `-DKEYCLOAK_FCGI_FUZZING` (libFuzzer + ASan), the target comes
/// from `KEYCLOAK_FCGI_FUZZ_TARGET` and libFuzzer drives it. Built plainly (as `swift build`
/// does), it replays inputs: `keycloak-fcgi-fuzz TARGET FILE_OR_DIRECTORY...` runs every file
/// through the target once, which `make test` does with the corpus and the regressions.
@main
enum FuzzMain {
    static func main() {
        #if KEYCLOAK_FCGI_FUZZING
            guard let name = ProcessInfo.processInfo.environment["KEYCLOAK_FCGI_FUZZ_TARGET"], let target = Target(rawValue: name) else {
                StandardStream.error.writeLine("set KEYCLOAK_FCGI_FUZZ_TARGET to one of \(Target.allCases.map(\.rawValue))")
                exit(2)
            }
            Target.selected = target
            var argc = CommandLine.argc
            var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
            exit(
                runLibFuzzer(&argc, &argv) { data, size in
                    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
                    Target.selected.run(bytes)
                    return 0
                })
        #else
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = Target(rawValue: name), arguments.count >= 2 else {
                StandardStream.error.writeLine(
                    "usage: keycloak-fcgi-fuzz TARGET FILE_OR_DIRECTORY... (targets: \(Target.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
                exit(2)
            }
            var count = 0
            for path in arguments.dropFirst() {
                for file in Replay.files(at: path) {
                    guard let bytes = Replay.read(file) else {
                        StandardStream.error.writeLine("cannot read \(file)")
                        exit(1)
                    }
                    target.run(bytes)
                    count += 1
                }
            }
            StandardStream.output.writeLine("\(name): replayed \(count) inputs")
        #endif
    }
}

enum Target: String, CaseIterable {
    case token, form, fastcgi, provider

    nonisolated(unsafe) static var selected = Target.token

    func run(_ bytes: [UInt8]) {
        switch self {
        case .token: FuzzToken.run(bytes)
        case .form: FuzzForm.run(bytes)
        case .fastcgi: FuzzFastCGI.shared.run(bytes)
        case .provider: FuzzProvider.run(bytes)
        }
    }
}

/// Token parsing and verification with real keys, so valid seeds reach the claim checks.
enum FuzzToken {
    static let keys: JSONWebKeySet = {
        do { return try JSONWebKeySet(json: Array(FuzzKeys.jwks.utf8)) } catch { preconditionFailure("fuzz JWKS: \(error)") }
    }()
    static let verifier = JWTVerifier(policy: VerificationPolicy(audiences: ["fastapi-keycloak"]))

    static func run(_ bytes: [UInt8]) {
        let token = String(decoding: bytes, as: UTF8.self)
        _ = try? verifier.verify(
            token, now: Date(timeIntervalSince1970: FuzzKeys.now), issuer: FuzzKeys.issuer,
            allowedAlgorithms: Set(SignatureAlgorithm.allCases)
        ) { kid throws(AuthError) in
            guard let key = keys[kid] else { throw AuthError(.unknownKeyID, kid) }
            return key
        }
        _ = try? BearerCredentials.token(fromAuthorization: token)
        _ = try? Credentials.parse(token, acceptsDPoP: true)
        _ = UnverifiedJWS.claims(of: token)
        // The same bytes as a DPoP proof, a request URI and a traceparent: all client-supplied.
        _ = try? DPoPProof.verify(
            token, method: "GET", targetURI: "https://api.example.com/protected", accessToken: "a.b.c", policy: DPoPPolicy(),
            now: Int64(FuzzKeys.now))
        _ = HTTPURI.normalized(token)
        _ = TraceContext.start(traceparent: token, tracestate: token)
    }
}

/// Form bodies as FastAPI-style form fields.
enum FuzzForm {
    static func run(_ bytes: [UInt8]) {
        guard let selector = bytes.first else { return }
        let body = Array(bytes.dropFirst())
        let contentType =
            switch selector % 3 {
            case 0: "application/x-www-form-urlencoded"
            case 1: "multipart/form-data; boundary=X"
            default: "multipart/form-data; boundary=\"X\"; charset=utf-8"
            }
        let request = HTTPRequest(method: "POST", path: "/login", contentType: contentType, body: body)
        _ = try? FormFields.required(["username", "password"], from: request)
        let pairs = FormURLEncoding.decode(body)
        // Decoding what was encoded must give the same pairs back.
        let again = FormURLEncoding.decode(FormURLEncoding.encode(pairs))
        precondition(again.map(\.0) == pairs.map(\.0) && again.map(\.1) == pairs.map(\.1), "form round trip")
    }
}

/// The provider's answers through the client's classification and decoding.
enum FuzzProvider {
    static let statuses = [200, 201, 204, 400, 401, 403, 404, 500, 502, 503]

    final class Transport: HTTPTransport {
        var response = IncomingResponse(status: 200, body: [])
        func send(_ request: OutgoingRequest) throws(AuthError) -> IncomingResponse { response }
    }

    // nonisolated(unsafe): libFuzzer runs inputs one at a time on one thread.
    nonisolated(unsafe) static let transport = Transport()
    nonisolated(unsafe) static let client: KeycloakClient = {
        let provider = IdentityProvider(
            settings: ProviderSettings(issuerCandidates: [FuzzKeys.issuer], clientID: "fastapi-keycloak", clientSecret: Secret("s")),
            limiter: ProviderCallLimiter(capacity: 4))
        let client = KeycloakClient(
            provider: provider, transport: transport, logger: Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() })
        let issuer = FuzzKeys.issuer
        transport.response = IncomingResponse(
            status: 200,
            body: Array(
                """
                {"issuer":"\(issuer)","token_endpoint":"\(issuer)/t","jwks_uri":"\(issuer)/c","userinfo_endpoint":"\(issuer)/u",\
                "introspection_endpoint":"\(issuer)/i","end_session_endpoint":"\(issuer)/l"}
                """.utf8))
        do { provider.record(try client.discover()) } catch { preconditionFailure("fuzz discovery: \(error)") }
        return client
    }()

    static func run(_ bytes: [UInt8]) {
        guard bytes.count >= 2 else { return }
        let client = client
        transport.response = IncomingResponse(status: statuses[Int(bytes[1]) % statuses.count], body: Array(bytes.dropFirst(2)))
        switch bytes[0] % 7 {
        case 0: _ = try? client.discover()
        case 1: _ = try? client.fetchKeys()
        case 2: _ = try? client.passwordGrant(username: "u", password: "p")
        case 3: _ = try? client.refreshGrant(refreshToken: "r")
        case 4: _ = try? client.introspect(token: "a.b.c")
        case 5: _ = try? client.userinfo(accessToken: "a.b.c")
        default: try? client.logout(refreshToken: "r")
        }
    }
}

/// Reading replay inputs.
enum Replay {
    /// The file itself, or the regular files of a directory, sorted.
    static func files(at path: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return [path] }
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }
    }

    static func read(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { Array($0) }
    }
}
