import Auth

/// `GET /.well-known/oauth-protected-resource`: the protected-resource metadata (RFC 9728 §2,
/// §3.2), from which a client (an MCP client, for one) learns the authorization server, the
/// scopes and the DPoP algorithms. Public and cacheable: it holds nothing secret.
struct ResourceMetadataHandler: RequestHandler {
    static let path = "/.well-known/oauth-protected-resource"
    let resourceServer: ResourceServer

    func handle(_ request: HTTPRequest, context: RequestContext) throws(HandlerError) -> HTTPResponse {
        .json(resourceServer.metadata(for: request), headers: [("Cache-Control", "public, max-age=300")])
    }
}
