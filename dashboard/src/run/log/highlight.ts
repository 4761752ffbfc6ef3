/**
 * Marks the occurrences of a search in an already rendered log line by splitting its text
 * nodes and wrapping the matches in <mark>: only DOM text nodes are touched, never HTML
 * strings, so the escaping ansi_up did stays intact.
 */
export function highlightMatches(root: Element, query: string): void {
  if (!query) return;
  const q = query.toLowerCase();
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes: Text[] = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n as Text);
  for (let node of nodes) {
    let at = node.data.toLowerCase().indexOf(q);
    while (at !== -1) {
      const match = node.splitText(at);
      const rest = match.splitText(q.length);
      const mark = document.createElement("mark");
      match.replaceWith(mark);
      mark.appendChild(match);
      node = rest;
      at = node.data.toLowerCase().indexOf(q);
    }
  }
}
