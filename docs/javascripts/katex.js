// Typeset the math that pymdownx.arithmatex (generic mode) leaves in the page:
// inline math as <span class="arithmatex">\(...\)</span>, display math as
// <div class="arithmatex">\[...\]</div>. KaTeX is served by the site itself
// (vendor/katex/, see hooks/katex.py). Material's document$ fires on the first
// load and after every instant navigation, so math is typeset on each page.
document$.subscribe(({ body }) => {
  for (const element of body.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    })
  }
})
