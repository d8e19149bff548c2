// MathJax 3 from this site (docs/assets/mathjax, npm's mathjax 3.2.2): no maths renderer from
// another host. Every page loads this file; a lesson page loads it twice (its notebook content
// names it too), so it configures and loads MathJax once.
(function () {
  if (window.nanogradMathJax) return;
  window.nanogradMathJax = true;
  var here = document.currentScript.src;
  window.MathJax = {
    tex: {
      inlineMath: [["$", "$"], ["\\(", "\\)"]],
      displayMath: [["$$", "$$"], ["\\[", "\\]"]],
      processEscapes: true,
      processEnvironments: true,
    },
    options: {
      // only the maths of Markdown pages and docstrings (arithmatex's spans) and of notebook
      // text cells and the table of contents (headings): the page frame is ignored, those are
      // taken back in (code inside them is skipped)
      ignoreHtmlClass: "tex2jax_ignore|mathjax_ignore|md-header|md-container",
      processHtmlClass: "arithmatex|jp-MarkdownOutput|md-nav__link",
    },
  };
  var script = document.createElement("script");
  script.src = new URL("../mathjax/tex-chtml-full.js", here).href;
  script.async = true;
  document.head.appendChild(script);
})();
