//! One module per page or group of pages; each takes the [`Viewer`](super::auth::Viewer),
//! calls services through [`Ui::call`](super::Ui::call) and renders with the layout.

pub mod compliance;
pub mod content;
pub mod depots;
pub mod exports;
pub mod home;
pub mod images;
pub mod tasks;
