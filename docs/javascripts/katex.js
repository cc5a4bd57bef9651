// Typeset the math of every page with the site's own KaTeX (vendor/katex/, served by the explainer plugin).
// - Posts and pages: pymdownx.arithmatex (generic mode) leaves inline math as
//   <span class="arithmatex">\(...\)</span> and display math as <div class="arithmatex">\[...\]</div>.
// - Notebook pages (mkdocs-jupyter): markdown cells keep the author's $...$ and $$...$$.
// Material's document$ fires on the first load and after every instant navigation.
const ARITHMATEX = [
  { left: "\\(", right: "\\)", display: false },
  { left: "\\[", right: "\\]", display: true },
]
const DOLLARS = [
  { left: "$$", right: "$$", display: true },
  { left: "$", right: "$", display: false },
]

document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, { delimiters: ARITHMATEX, throwOnError: false })
  }
  for (const element of body.querySelectorAll(".jp-RenderedMarkdown")) {
    renderMathInElement(element, { delimiters: DOLLARS, throwOnError: false })
  }
})
