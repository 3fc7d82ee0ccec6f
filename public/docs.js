// The /docs page's configuration of Scalar's API reference (functions/docs.ts serves the page): the document of this
// origin, and nothing fetched from elsewhere. No Scalar fonts, telemetry, agent chat or MCP; no request proxy, so
// "Test Request" calls this origin directly, with the bearer token typed into the page (kept only while it is open).

// Loaded before Scalar's bundle: the zod inside it then skips its probe for code generation (`Function("")`), which
// the page's script-src refuses (harmlessly, but with a CSP violation report). zod keeps its settings on this global.
globalThis.__zod_globalConfig = { ...globalThis.__zod_globalConfig, jitless: true };

addEventListener("DOMContentLoaded", () => {
  Scalar.createApiReference("#app", {
    url: "/openapi.json",
    withDefaultFonts: false,
    telemetry: false,
    agent: { disabled: true },
    mcp: { disabled: true },
    // The sidebar's "Open API Client" links to client.scalar.com, with this document's URL.
    hideClientButton: true,
    showDeveloperTools: "never",
    documentDownloadType: "json",
    persistAuth: false,
    authentication: { preferredSecurityScheme: "bearer" },
  });
});
