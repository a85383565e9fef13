/**
 * @module
 * A TCP proxy for fault injection (a tiny toxiproxy): listens on a free loopback port, pipes every
 * connection to `target`, and {@link TcpProxy.cut} destroys every open connection at once — bytes
 * in flight in either direction are lost, as when a NAT box, a load balancer or a flaky link drops
 * a connection. New connections are accepted again right away (or refused while {@link TcpProxy.down}).
 * {@link TcpProxy.paused} holds every byte instead, connections open (a link dropping every packet).
 */
import { connect, createServer, type Server, type Socket } from "node:net";

/** A running proxy; `await using` closes it. */
export class TcpProxy implements AsyncDisposable {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #pairs = new Set<Socket[]>();
  #refusing = false;
  #paused = false;
  /** Connections accepted so far. */
  accepted = 0;
  /** Times {@link cut} ran. */
  cuts = 0;

  private constructor(server: Server, readonly port: number) {
    this.#server = server;
  }

  /** `nats://127.0.0.1:<port>`-style URL with the given scheme. */
  url(scheme = "nats"): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /** Starts a proxy to `targetHost:targetPort`. */
  static async start(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((client) => {
      if (!proxy || proxy.#refusing) {
        client.destroy();
        return;
      }
      proxy.accepted++;
      const upstream = connect(targetPort, targetHost);
      const pair = [client, upstream];
      for (const s of pair) {
        proxy.#sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          proxy!.#sockets.delete(s);
          for (const o of pair) o.destroy();
        });
      }
      proxy.#pairs.add(pair);
      client.on("close", () => proxy!.#pairs.delete(pair));
      if (!proxy.#paused) pipeBoth(client, upstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("tcp proxy: no port");
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  /** Open connections (client and upstream sides count separately). */
  get open(): number {
    return this.#sockets.size;
  }

  /** Destroys every open connection now. */
  cut(): void {
    this.cuts++;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** While true, new connections are closed at once (a link that stays down). */
  set down(value: boolean) {
    this.#refusing = value;
    if (value) this.cut();
  }

  /**
   * While true, no byte is forwarded either way and the connections stay open (a link that drops
   * every packet: TCP sees nothing wrong, requests just go unanswered); false forwards what waited.
   */
  set paused(value: boolean) {
    if (value === this.#paused) return;
    this.#paused = value;
    for (const [client, upstream] of this.#pairs) {
      if (value) {
        client!.unpipe(upstream);
        upstream!.unpipe(client);
        client!.pause();
        upstream!.pause();
      } else {
        pipeBoth(client!, upstream!);
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#refusing = true;
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function pipeBoth(client: Socket, upstream: Socket): void {
  client.pipe(upstream);
  upstream.pipe(client);
}
