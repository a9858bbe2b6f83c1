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
    search_with(path, &[], q, label)
}

/// The search box of a list whose page has query parameters of its own (`keep`).
pub fn search_with(path: &str, keep: &[(&str, String)], q: &ListQuery, label: &str) -> Markup {
    let mut live = path.to_owned();
    for (i, (k, v)) in keep.iter().enumerate() {
        live.push(if i == 0 { '?' } else { '&' });
        live.push_str(&format!("{k}={}", enc(v)));
    }
    html! {
        form.search role="search" method="get" action=(path) {
            @for (k, v) in keep { input type="hidden" name=(k) value=(v); }
            label for="q" { (label) }
            input #q type="search" name="q" value=(q.q)
                hx-get=(live) hx-trigger="input changed delay:300ms, search" hx-target="#results"
                hx-select="#results" hx-swap="outerHTML" hx-push-url="true";
            button type="submit" { "Search" }
        }
    }
}

/// "Page 2 of 5" with previous and next links.
pub fn pager<T>(path: &str, q: &ListQuery, paged: &Paged<T>) -> Markup {
    let sep = if path.contains('?') { '&' } else { '?' };
    let link = |page: usize| format!("{path}{sep}q={}&page={page}", enc(&q.q));
    html! {
        nav.pager aria-label="Pages" {
            @if paged.page > 1 { a href=(link(paged.page - 1)) rel="prev" { "← Previous" } }
            span { "Page " (paged.page) " of " (paged.pages) " (" (paged.total) " in all)" }
            @if paged.page < paged.pages { a href=(link(paged.page + 1)) rel="next" { "Next →" } }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn search_then_pages_and_past_the_end_is_the_last_page() {
        let rows: Vec<String> = (0..60).map(|i| format!("row {i}")).collect();
        let q = ListQuery { q: "ROW 1".into(), page: None };
        let p = q.apply(rows.clone(), Clone::clone);
        assert_eq!((p.total, p.pages, p.page), (11, 1, 1), "row 1, 10..19");
        let q = ListQuery { q: String::new(), page: Some(9) };
        let p = q.apply(rows, Clone::clone);
        assert_eq!((p.total, p.pages, p.page, p.rows.len()), (60, 3, 3, 10));
        assert_eq!(p.rows[0], "row 50");
        let empty = ListQuery::default().apply(Vec::<String>::new(), Clone::clone);
        assert_eq!((empty.pages, empty.page), (1, 1));
    }

    #[test]
    fn pager_links_keep_the_page_own_query_and_escape_the_search() {
        let q = ListQuery { q: "1 ".into(), page: Some(1) };
        let p = q.apply((0..300).map(|i| format!("{i} ")).collect::<Vec<_>>(), Clone::clone);
        let html = pager("/ui/x?from=1", &q, &p).into_string();
        assert!(html.contains("/ui/x?from=1&amp;q=1+&amp;page=2"), "{html}");
        let html = pager("/ui/x", &q, &p).into_string();
        assert!(html.contains("/ui/x?q=1+&amp;page=2"), "{html}");
    }
}
