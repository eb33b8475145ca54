/** Renders a tool's output for the model: JSON, capped so one call cannot flood the context (head and tail kept). */
export const MAX_TOOL_OUTPUT_CHARS = 24_000;

export function renderToolOutput(output: unknown, max = MAX_TOOL_OUTPUT_CHARS): string {
  const text = JSON.stringify(output, null, 1);
  if (text.length <= max) return text;
  const half = Math.floor((max - 100) / 2);
  const cut = text.length - 2 * half;
  return `${text.slice(0, half)}\n[… ${cut} characters truncated …]\n${text.slice(text.length - half)}`;
}
