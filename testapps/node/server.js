// server.js - an ordinary Node.js HTTP server (the built-in http module on
// libuv's level-triggered epoll loop) that knows nothing about luawrap.
// luawrap's tests attach a script to it from the command line.
//
// usage: node server.js [HOST] [PORT]     (defaults 127.0.0.1 and 0)
//
// stdout (one line each; stdout is synchronous for pipes on Linux):
//   listening <port>
//   <method> <url> HTTP/<version> <status>   once per request, when answered
//   clientError <code>                       a request the parser rejected, or a
//                                            failed connection (ECONNREFUSED...)
'use strict';

const http = require('http');

const host = process.argv[2] || '127.0.0.1';
const port = Number(process.argv[3] || 0);

const server = http.createServer((req, res) => {
  res.on('finish', () => {
    console.log(`${req.method} ${req.url} HTTP/${req.httpVersion} ${res.statusCode}`);
  });
  res.writeHead(200, {'Content-Type': 'text/plain'});
  res.end('ok\n');
});

// As in Node's documentation: answer 400 to what the parser rejected;
// a connection that failed (reset, refused) is just dropped.
server.on('clientError', (err, socket) => {
  console.log(`clientError ${err.code || err.message}`);
  if (err.code === 'ECONNRESET' || err.code === 'ECONNREFUSED' || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
});

server.listen(port, host, () => {
  console.log(`listening ${server.address().port}`);
});

process.on('SIGTERM', () => process.exit(0));
