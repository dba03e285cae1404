import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

/**
 * A line-level SMTP client for the cases a library client will not produce: bare LF, missing
 * headers, repeated failed AUTHs, AUTH before STARTTLS. Each call resolves with one full reply.
 */
export interface Dialog {
  greeting: string;
  /** Send one line (CRLF added) and read the reply. */
  cmd(line: string): Promise<string>;
  /** Send bytes as they are and read the reply. */
  raw(data: string | Buffer): Promise<string>;
  starttls(): Promise<string>;
  /** Resolves when the server has closed the connection. */
  closed: Promise<void>;
  end(): void;
}

const open = new Set<() => void>();
/** For afterEach: a test that failed half-way must not leave the server waiting on its socket. */
export const endDialogs = (): void => {
  for (const end of open) end();
  open.clear();
};

export async function dialog(port: number): Promise<Dialog> {
  let socket: Socket | TLSSocket = connect(port, '127.0.0.1');
  open.add(() => socket.destroy());
  let buf = '';
  let waiting: ((reply: string) => void) | undefined;
  let ended!: () => void;
  const closed = new Promise<void>((r) => (ended = r));
  const onData = (d: Buffer) => {
    buf += d.toString('latin1');
    const lines = buf.split('\r\n');
    // A reply is complete at a line "NNN text" (not "NNN-text").
    const last = lines.findIndex((l) => /^\d{3}(?: |$)/.test(l));
    if (last !== -1 && waiting) {
      const reply = lines.slice(0, last + 1).join('\r\n');
      buf = lines.slice(last + 1).join('\r\n');
      const w = waiting;
      waiting = undefined;
      w(reply);
    }
  };
  const attach = (s: Socket | TLSSocket) => {
    s.on('data', onData);
    s.on('close', () => ended());
    s.on('error', () => ended());
  };
  attach(socket);
  const next = () =>
    new Promise<string>((resolve, reject) => {
      waiting = resolve;
      void closed.then(() => reject(new Error(`connection closed (buffer: ${buf})`)));
      onData(Buffer.alloc(0));
    });
  const greeting = await next();
  const d: Dialog = {
    greeting,
    cmd: (line) => d.raw(`${line}\r\n`),
    raw(data) {
      const p = next();
      socket.write(data);
      return p;
    },
    async starttls() {
      const r = await d.cmd('STARTTLS');
      socket.off('data', onData);
      const plain = socket;
      socket = tlsConnect({ socket: plain as Socket, rejectUnauthorized: false, servername: 'localhost' });
      socket.on('data', onData);
      await new Promise<void>((res, rej) => {
        (socket as TLSSocket).once('secureConnect', () => res());
        socket.once('error', rej);
      });
      return r;
    },
    closed,
    end: () => socket.destroy(),
  };
  return d;
}

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
