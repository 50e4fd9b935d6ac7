import Auth
import Foundation
import Testing

@testable import FCGIApp

@Suite("Challenge (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1)")
struct ChallengeTests {
    static let metadata = "https://api.example.com/.well-known/oauth-protected-resource"
    static let algs = "ES256 PS256"

    @Test func keepsTheSeedsExactBearerChallenges() {
        let seed = Challenge(scheme: .bearer, resourceMetadata: Self.metadata, algorithms: Self.algs, seedExact: true)
        #expect(seed.header(for: AuthError(.missingBearerToken)) == "Bearer")
        #expect(seed.header(for: AuthError(.signatureInvalid)) == #"Bearer error="invalid_token""#)
        #expect(seed.header(for: AuthError(.dpopBoundTokenAsBearer)) == #"Bearer error="invalid_token""#)
    }

    @Test func namesTheMetadataAndDPoPElsewhere() {
        let gate = Challenge(scheme: .bearer, resourceMetadata: Self.metadata, algorithms: Self.algs)
        #expect(
            gate.header(for: AuthError(.missingBearerToken)) == #"Bearer resource_metadata="\#(Self.metadata)", DPoP algs="ES256 PS256""#)
        #expect(gate.header(for: AuthError(.tokenExpired)) == #"Bearer error="invalid_token", resource_metadata="\#(Self.metadata)""#)
        #expect(
            gate.header(for: AuthError(.dpopRequired))
                == #"DPoP error="invalid_token", error_description="a DPoP-bound access token is required", algs="ES256 PS256", resource_metadata="\#(Self.metadata)""#
        )
        let off = Challenge(scheme: .bearer, resourceMetadata: Self.metadata, algorithms: nil)
        #expect(off.header(for: AuthError(.missingBearerToken)) == #"Bearer resource_metadata="\#(Self.metadata)""#)
    }

    @Test func answersDPoPRequestsInKind() {
        let dpop = Challenge(scheme: .dpop, resourceMetadata: Self.metadata, algorithms: Self.algs, seedExact: true)
        #expect(
            dpop.header(for: AuthError(.invalidDPoPProof, "htm does not match the request method"))
                == #"DPoP error="invalid_dpop_proof", error_description="htm does not match the request method", algs="ES256 PS256", resource_metadata="\#(Self.metadata)""#
        )
        #expect(
            dpop.header(for: AuthError(.tokenExpired))
                == #"DPoP error="invalid_token", algs="ES256 PS256", resource_metadata="\#(Self.metadata)""#)
        #expect(
            dpop.header(for: AuthError(.dpopNonceRequired))
                == #"DPoP error="use_dpop_nonce", error_description="a nonce from the DPoP-Nonce header is required", algs="ES256 PS256", resource_metadata="\#(Self.metadata)""#
        )
    }

    @Test func quotesWhatNeedsQuoting() {
        #expect(Challenge.quoted(#"a"b\c"#) == #""a\"b\\c""#)
        #expect(Challenge.quoted("line\r\nX-Injected: 1") == #""lineX-Injected: 1""#)
    }

    @Test func readsTheCertificateNginxPasses() {
        // A PEM body is base64 with line breaks; nginx's $ssl_client_escaped_cert URL-encodes it.
        let der: [UInt8] = Array(0..<200).map { UInt8($0) }
        let base64 = Base64URL.encode(der).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let pem = "-----BEGIN CERTIFICATE-----\n" + base64.prefix(64) + "\n" + base64.dropFirst(64) + "==\n-----END CERTIFICATE-----\n"
        var escaped = ""
        for byte in pem.utf8 {
            let character = Character(Unicode.Scalar(byte))
            let hex = String(byte, radix: 16, uppercase: true)
            escaped += character.isLetter || character.isNumber ? String(character) : "%" + (hex.count == 1 ? "0" + hex : hex)
        }
        #expect(ClientCertificate.der(fromEscapedPEM: escaped) == der)
        #expect(ClientCertificate.der(fromEscapedPEM: "%ZZ") == nil)
        #expect(ClientCertificate.der(fromEscapedPEM: "no certificate") == nil)
    }
}
