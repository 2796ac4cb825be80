/* flask-chatroom: the sentences shown for the server's refusals. No DOM. */

export const NO_ANSWER = "The chat did not answer; check your connection.";

// The sentence for a refusal ({code, message, retry_after}).
export function describeError(error) {
  if (!error || typeof error.message !== "string") {
    return "The chat refused that.";
  }
  const wait = typeof error.retry_after === "number" ? error.retry_after : null;
  if (error.code === "muted" && wait !== null) {
    const minutes = Math.max(1, Math.ceil(wait / 60));
    return error.message + " You can write again in " +
      (minutes === 1 ? "1 minute." : minutes + " minutes.");
  }
  if (error.code === "rate_limited" && wait !== null && wait >= 1) {
    return error.message + " (" + Math.ceil(wait) + " s)";
  }
  return error.message;
}
