// Report text marks names with backticks (`search_knowledge_base`), as Markdown does: shown as code.

export function Ticks({ text }: { text: string }) {
  return <>{text.split("`").map((part, i) => (i % 2 ? <code key={i}>{part}</code> : part))}</>;
}
