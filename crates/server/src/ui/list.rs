//! Every list of the UI is searchable and paginated the same way: `?q=` keeps the rows
//! whose text contains it (case-insensitive), `?page=` picks a page of [`PAGE_SIZE`].

use maud::{Markup, html};
use serde::Deserialize;

use super::layout::enc;

pub const PAGE_SIZE: usize = 25;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: Option<usize>,
}

pub struct Paged<T> {
    pub rows: Vec<T>,
    pub page: usize,
    pub pages: usize,
    pub total: usize,
}

impl ListQuery {
    /// The rows matching the search, on the page asked for (the last one if past it).
    pub fn apply<T>(&self, rows: Vec<T>, text: impl Fn(&T) -> String) -> Paged<T> {
        let needle = self.q.trim().to_lowercase();
        let matching: Vec<T> =
            rows.into_iter().filter(|r| needle.is_empty() || text(r).to_lowercase().contains(&needle)).collect();
        let total = matching.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = self.page.unwrap_or(1).clamp(1, pages);
        let rows = matching.into_iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
        Paged { rows, page, pages, total }
    }
}

/// The search box of a list at `path`; with htmx, results follow the typing.
pub fn search(path: &str, q: &ListQuery, label: &str) -> Markup {
    html! {
        form.search role="search" method="get" action=(path) {
            label for="q" { (label) }
            input #q type="search" name="q" value=(q.q)
                hx-get=(path) hx-trigger="input changed delay:300ms, search" hx-target="#results"
                hx-select="#results" hx-swap="outerHTML" hx-push-url="true";
            button type="submit" { "Search" }
        }
    }
}

/// "Page 2 of 5" with previous and next links.
pub fn pager<T>(path: &str, q: &ListQuery, paged: &Paged<T>) -> Markup {
    let link = |page: usize| format!("{path}?q={}&page={page}", enc(&q.q));
    html! {
        nav.pager aria-label="Pages" {
            @if paged.page > 1 { a href=(link(paged.page - 1)) rel="prev" { "← Previous" } }
            span { "Page " (paged.page) " of " (paged.pages) " (" (paged.total) " in all)" }
            @if paged.page < paged.pages { a href=(link(paged.page + 1)) rel="next" { "Next →" } }
        }
    }
}
