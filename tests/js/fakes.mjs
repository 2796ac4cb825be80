// Test doubles for the widget's DOM-free modules: timers that run when told,
// and a Socket.IO client socket that records what is emitted.

export class FakeTimers {
  constructor() {
    this.next = 0;
    this.pending = new Map(); // id -> {fn, ms}
    this.setTimeout = (fn, ms) => {
      this.next += 1;
      this.pending.set(this.next, { fn, ms });
      return this.next;
    };
    this.clearTimeout = (id) => {
      this.pending.delete(id);
    };
  }

  get count() {
    return this.pending.size;
  }

  // Run every timer set so far (not those they set in turn).
  runAll() {
    for (const [id, timer] of Array.from(this.pending)) {
      this.pending.delete(id);
      timer.fn();
    }
  }
}

export class FakeSocket {
  constructor() {
    this.handlers = new Map();
    this.ioHandlers = new Map();
    this.io = { on: (event, fn) => this.ioHandlers.set(event, fn) };
    this.connected = false;
    this.active = true;
    this.requests = []; // {event, payload, timeout, answer(err, ack)}
    this.emitted = []; // {event, payload}: emits without an answer
  }

  on(event, fn) {
    this.handlers.set(event, fn);
  }

  timeout(ms) {
    return {
      emit: (event, payload, answer) => {
        this.requests.push({ event, payload, timeout: ms, answer });
      },
    };
  }

  emit(event, payload) {
    this.emitted.push({ event, payload });
  }

  // What the server (or the client library) would do.
  fire(event, ...args) {
    this.handlers.get(event)(...args);
  }

  connect() {
    this.connected = true;
    this.fire("connect");
  }

  drop(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
  }

  last(event) {
    return this.requests.filter((request) => request.event === event).pop();
  }
}
