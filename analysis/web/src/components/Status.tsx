// Loading and error lines shared by every page; a 401 asks for the bearer token instead of failing.
import { useState } from "react";
import { ApiError, setToken } from "../api";

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status">
      Loading {what}…
    </p>
  );
}

export function ErrorLine({ error }: { error: Error }) {
  const [value, setValue] = useState("");
  if (error instanceof ApiError && error.status === 401)
    return (
      <form
        className="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          setToken(value);
        }}
      >
        <label>
          This API needs a bearer token (<code>--auth-token</code>):{" "}
          <input type="password" value={value} onChange={(e) => setValue(e.target.value)} autoFocus />
        </label>{" "}
        <button type="submit">Use token</button>
      </form>
    );
  return (
    <p className="error" role="alert">
      {error.message}
    </p>
  );
}

export function Verdict({ verdict }: { verdict: string }) {
  return <span className={`verdict verdict-${verdict}`}>{verdict.toUpperCase()}</span>;
}
