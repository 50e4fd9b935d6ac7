import Auth
import Foundation

/// A provider configured as the article's realm, with secrets that must never leak.
enum ProviderFixture {
    static let issuer = "https://sso.example.com/realms/testing"
    static let legacyIssuer = "https://sso.example.com/auth/realms/testing"
    static let clientID = "fastapi-keycloak"
    static let clientSecret = "cl13nt-S3cret&+%#é"
    static let password = "p&ss+w%rd é#1"
    static let tokenEndpoint = issuer + "/protocol/openid-connect/token"
    static let userinfoEndpoint = issuer + "/protocol/openid-connect/userinfo"
    static let jwksURI = issuer + "/protocol/openid-connect/certs"
    static let endSessionEndpoint = issuer + "/protocol/openid-connect/logout"
    static let introspectionEndpoint = issuer + "/protocol/openid-connect/token/introspect"

    static func discoveryJSON(issuer: String = issuer, userinfo: Bool = true, endSession: Bool = true, introspection: Bool = true) -> String
    {
        var document: [String: Any] = [
            "issuer": issuer,
            "authorization_endpoint": issuer + "/protocol/openid-connect/auth",
            "token_endpoint": issuer + "/protocol/openid-connect/token",
            "jwks_uri": issuer + "/protocol/openid-connect/certs",
            "grant_types_supported": ["authorization_code", "password", "refresh_token"],
            "id_token_signing_alg_values_supported": [
                "PS384", "ES384", "RS384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512",
            ],
        ]
        if userinfo {
            document["userinfo_endpoint"] = issuer + "/protocol/openid-connect/userinfo"
        }
        if endSession {
            document["end_session_endpoint"] = issuer + "/protocol/openid-connect/logout"
        }
        if introspection {
            document["introspection_endpoint"] = issuer + "/protocol/openid-connect/token/introspect"
        }
        return String(decoding: JSON.bytes(document), as: UTF8.self)
    }

    static func metadata(issuer: String = issuer, userinfo: Bool = true, endSession: Bool = true, introspection: Bool = true)
        -> ProviderMetadata
    {
        do {
            let json = discoveryJSON(issuer: issuer, userinfo: userinfo, endSession: endSession, introspection: introspection)
            return try JSONDecoder().decode(ProviderMetadata.self, from: Data(json.utf8))
        } catch {
            fatalError("\(error)")
        }
    }

    static func provider(discovered: Bool = true, capacity: Int = 4, candidates: [String] = [issuer, legacyIssuer]) -> IdentityProvider {
        let provider = IdentityProvider(
            settings: ProviderSettings(issuerCandidates: candidates, clientID: clientID, clientSecret: Secret(clientSecret)),
            limiter: ProviderCallLimiter(capacity: capacity))
        if discovered {
            provider.record(metadata())
        }
        return provider
    }

    static let tokenSuccess = """
        {"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln","expires_in":300,"refresh_expires_in":1800,\
        "refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJ0eXAiOiJSZWZyZXNoIn0.c2ln","token_type":"Bearer","id_token":"x.y.z",\
        "not-before-policy":0,"session_state":"2b3c","scope":"openid email profile"}
        """
}
