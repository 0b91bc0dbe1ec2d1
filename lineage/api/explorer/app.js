// The explorer's entry point: the router (URL -> view) and the search box.
import { closePanel, go, main, message, setLoading, setReady, setRouter, showError } from "./core.js";
import { homeView, searchView } from "./search.js";
import { lineageView, nodeView } from "./lineage.js";
import { PAGES } from "./pages.js";

const VIEWS = { home: homeView, search: searchView, lineage: lineageView, node: nodeView, ...PAGES };

let rendering = 0;   // a newer navigation wins over a slower older one

async function route() {
  const params = Object.fromEntries(new URLSearchParams(location.search));
  const name = params.view || (params.q ? "search" : "home");
  const view = VIEWS[name];
  const ticket = ++rendering;
  const m = main();
  setLoading(name);
  closePanel();
  document.getElementById("search-box").value = params.q || "";
  m.replaceChildren(message("Loading ..."));
  if (!view) {
    m.replaceChildren(message(`There is no view called "${name}": use the search box or the ` +
      "links above.", "error"));
    setReady();
    return;
  }
  try {
    await view(params, m, () => ticket === rendering);
  } catch (err) {
    if (ticket === rendering) showError(m, err);
  }
  if (ticket === rendering && m.dataset.ready !== "1") setReady();   // an error was shown
}

setRouter(route);

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-nav]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState(null, "", a.href);
  route();
});

window.addEventListener("popstate", route);

document.getElementById("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("search-box").value.trim();
  if (q) go("search", { q });
});

route();
