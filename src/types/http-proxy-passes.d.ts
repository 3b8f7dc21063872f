// http-proxy ships no types for its response passes; these are the ones gateway-errors reuses so
// that cookie, redirect and header-case options behave exactly as in http-proxy-middleware.
declare module 'http-proxy/lib/http-proxy/passes/web-outgoing.js' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  type Pass = (req: IncomingMessage, res: ServerResponse, proxyRes: IncomingMessage, options: Record<string, unknown>) => void;
  const passes: {
    removeChunked: Pass;
    setConnection: Pass;
    setRedirectHostRewrite: Pass;
    writeHeaders: Pass;
    writeStatusCode: Pass;
  };
  export default passes;
}

// The request side: `setupOutgoing` builds the upstream request's options from http-proxy's.
// `setupSocket` readies a socket for an upgrade's pipe (no timeout, no delay, keep-alive).
declare module 'http-proxy/lib/http-proxy/common.js' {
  import type { IncomingMessage, RequestOptions } from 'node:http';
  import type { Socket } from 'node:net';
  const common: {
    setupOutgoing(outgoing: Record<string, unknown>, options: Record<string, unknown>, req: IncomingMessage, forward?: string): RequestOptions;
    setupSocket(socket: Socket): Socket;
  };
  export default common;
}
