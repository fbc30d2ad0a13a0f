// loopback.cjs - preloaded with `node --require` into the MCP servers the
// tests start (server-everything, the conformance suite's scenario
// servers), so that a server that listens without naming a host binds
// 127.0.0.1 instead of every interface.
//
// It wraps net.Server.prototype._listen2, the step where Node 20 and 22
// bind a TCP listener after any host lookup. Wrapping listen() instead
// would need a host name, and Node then binds only after an asynchronous
// lookup, while the suite's servers read server.address() right after
// listen(0) returns.
'use strict';
const net = require('net');

const listen2 = net.Server.prototype._listen2;

if (typeof listen2 !== 'function') {
  throw new Error('loopback.cjs: net.Server.prototype._listen2 is missing ' +
                  'in this Node version; cannot restrict servers to ' +
                  '127.0.0.1');
}

net.Server.prototype._listen2 = function (address, port, addressType,
                                          ...rest) {
  // A pipe or a file descriptor has port -1 or an address that is a path.
  const wildcard = address === null || address === undefined ||
                   address === '::' || address === '0.0.0.0';
  if (wildcard && typeof port === 'number' && port >= 0) {
    return listen2.call(this, '127.0.0.1', port, 4, ...rest);
  }
  return listen2.call(this, address, port, addressType, ...rest);
};
