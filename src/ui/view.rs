//! Drawing: a pure function of the [`App`]. Tables build only the rows that fit on screen.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, LineGauge, Paragraph, Row, Table, Wrap};
use ratatui::Frame;
use tui_tree_widget::{Tree, TreeItem};

use super::app::{App, Mode, View, COMMANDS, LAST_REPLICA_CONFIRMATION};
use super::keymap::KeyAction;
use super::theme::Theme;
use super::world::{usage_percent, NodeRow, NodeStatus, PodProgress};
use crate::exec::{PlanStatus, State};
use crate::model::CapacityType;

/// Draw the whole console.
pub fn draw(f: &mut Frame, app: &mut App) {
    let area = f.area();
    let pools = app
        .world
        .pools
        .iter()
        .filter(|p| !p.limits.is_empty())
        .count()
        .min(3);
    let header_height = 2 + pools as u16;
    let [header, tabs, body, footer] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, app, header);
    draw_tabs(f, app, tabs);
    match app.view {
        View::Nodes => draw_nodes(f, app, body),
        View::Pending => draw_pending(f, app, body),
        View::Pools => draw_pools(f, app, body),
        View::Tree => draw_tree(f, app, body),
        View::Spot => draw_spot(f, app, body),
        View::Plans => draw_plans(f, app, body),
        View::Journal => draw_journal(f, app, body),
    }
    draw_footer(f, app, footer);
    match &app.mode {
        Mode::Help => draw_help(f, app, area),
        Mode::Confirm { .. } => draw_confirm(f, app, area),
        Mode::WhatIf(lines) => draw_whatif(f, app, lines, area),
        _ => {}
    }
}

/// `+MM:SS` (or `+H:MM:SS`).
fn elapsed(seconds: i64) -> String {
    if seconds >= 3600 {
        format!(
            "+{}:{:02}:{:02}",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    } else {
        format!("+{:02}:{:02}", seconds / 60, seconds % 60)
    }
}

/// A compact age: `45s`, `12m`, `3h`, `2d`.
fn age(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// A text bar `██████░░░░` for a percentage.
fn bar(pct: i64, width: usize) -> String {
    let full = ((pct.clamp(0, 100) as usize) * width).div_ceil(100);
    format!("{}{}", "█".repeat(full), "░".repeat(width - full))
}

/// `████ 74%` in nine columns.
fn usage_cell(pct: i64) -> String {
    format!("{} {:>3}%", bar(pct, 4), pct)
}

/// A node's name without its DNS suffix (`ip-10-0-0-3.sim.internal` → `ip-10-0-0-3`); NodeClaim
/// names have none.
fn short_name(name: &str) -> &str {
    if name.starts_with("ip-") {
        name.split('.').next().unwrap_or(name)
    } else {
        name
    }
}

/// A sparkline of values.
fn sparkline(values: &[f64], width: usize) -> String {
    const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let (lo, hi) = tail
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    tail.iter()
        .map(|v| {
            let x = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            TICKS[((x * 7.0).round() as usize).min(7)]
        })
        .collect()
}

/// How a live cluster's sources stand, in a few words, and whether that is trouble: the first
/// reconnecting source with since when and why, else those still syncing, else live with the
/// age of the newest event.
fn source_health(w: &super::world::World) -> (String, bool) {
    use crate::control::SourceState;
    if let Some((s, since, error)) = w.sources.iter().find_map(|s| match &s.state {
        SourceState::Reconnecting { since, error } => Some((s, since, error)),
        _ => None,
    }) {
        return (
            format!(
                "reconnecting since {} ({}): {error}",
                since.format("%H:%M:%S"),
                s.name
            ),
            true,
        );
    }
    let syncing: Vec<&str> = w
        .sources
        .iter()
        .filter(|s| s.state == SourceState::Syncing)
        .map(|s| s.name.as_str())
        .collect();
    if !syncing.is_empty() {
        return (format!("syncing {}", syncing.join(", ")), true);
    }
    let newest = w.sources.iter().filter_map(|s| s.last_event).max();
    let age = newest.map_or(String::new(), |t| {
        format!(", last event {}s ago", (w.now - t).num_seconds().max(0))
    });
    let refused: usize = w.sources.iter().map(|s| s.refused).sum();
    let refused = match refused {
        0 => String::new(),
        n => format!(", {n} objects refused (see the log)"),
    };
    (
        format!("live ({} sources{refused}{age})", w.sources.len()),
        !refused.is_empty(),
    )
}

fn draw_header(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let w = &app.world;
    let mut first = vec![
        Span::styled(" karpdeck ", t.title()),
        Span::styled(
            if w.simulated {
                format!("{} ", app.source)
            } else {
                format!("context {} ", w.context)
            },
            t.text(),
        ),
        Span::styled(
            if w.expected.is_some() {
                " OBSERVE "
            } else {
                " SUPERVISED "
            },
            t.badge(t.badge_mode),
        ),
        Span::raw(" "),
    ];
    if w.read_only {
        first.push(Span::styled(" READ-ONLY ", t.badge(t.badge_read_only)));
        first.push(Span::raw(" "));
    }
    let by_policy: Vec<&str> = w
        .plans
        .iter()
        .filter(|x| x.policy().is_some() && x.state().is_running())
        .map(|x| x.action().id.as_str())
        .collect();
    if !by_policy.is_empty() {
        first.push(Span::styled(" INTERRUPTION ", t.badge(t.critical)));
        first.push(Span::styled(
            format!(" {} answering by policy  ", by_policy.join(", ")),
            t.fg(t.critical).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(line) = frozen(w) {
        first.push(Span::styled(" FROZEN ", t.badge(t.badge_hold)));
        first.push(Span::styled(format!(" {line}  "), t.fg(t.badge_hold)));
    }
    if w.simulated {
        first.push(Span::styled(
            format!(
                "{} {} ×{}{}",
                w.now.format("%H:%M:%S"),
                elapsed(w.elapsed),
                app.speed,
                if app.paused { " PAUSED" } else { "" }
            ),
            t.fg(t.muted),
        ));
        first.push(Span::styled(
            "  prices: catalog + simulated spot",
            t.fg(t.muted),
        ));
    } else {
        let (health, trouble) = source_health(w);
        first.push(Span::styled(
            format!("{} ", w.now.format("%H:%M:%S")),
            t.fg(t.muted),
        ));
        first.push(Span::styled(
            health,
            if trouble { t.fg(t.warn) } else { t.fg(t.muted) },
        ));
        if w.karpenter == Some(false) {
            first.push(Span::styled("  no Karpenter", t.fg(t.warn)));
        }
        first.push(Span::styled("  prices: embedded catalog", t.fg(t.muted)));
    }
    let savings = if w.on_demand_per_hour > 0.0 {
        format!(
            "  on-demand ${:.2}/h, saving {:.0}%",
            w.on_demand_per_hour,
            (1.0 - w.per_hour / w.on_demand_per_hour) * 100.0
        )
    } else {
        String::new()
    };
    let pending_style = if w.pending_count > 0 {
        t.fg(t.warn)
    } else {
        t.text()
    };
    let launching = w.launching();
    let second = Line::from(vec![
        Span::styled(
            format!(
                " nodes {} ({launching} launching)  pods {}, ",
                w.nodes.len() - launching,
                w.pod_count
            ),
            t.text(),
        ),
        Span::styled(format!("{} pending", w.pending_count), pending_style),
        Span::styled(
            format!(
                "  ${:.4}/h  ${:.0}/mo{savings}",
                w.per_hour,
                w.per_hour * 730.0
            ),
            t.text(),
        ),
    ]);
    let mut lines = vec![Line::from(first), second];
    for p in w.pools.iter().filter(|p| !p.limits.is_empty()).take(3) {
        let mut spans = vec![Span::styled(format!(" {:<14}", p.name), t.text())];
        for (name, used, limit) in p
            .limits
            .iter()
            .filter(|(n, _, _)| n == "cpu" || n == "memory")
        {
            let pct = usage_percent((*used, *limit));
            let style = if pct >= 90 {
                t.fg(t.critical)
            } else if pct >= 75 {
                t.fg(t.warn)
            } else {
                t.fg(t.gauge)
            };
            spans.push(Span::styled(format!("{name} "), t.fg(t.muted)));
            spans.push(Span::styled(bar(pct, 10), style));
            spans.push(Span::styled(
                format!(
                    " {}/{}  ",
                    crate::model::Resources::format_one(name, *used),
                    crate::model::Resources::format_one(name, *limit)
                ),
                t.text(),
            ));
        }
        lines.push(Line::from(spans));
    }
    f.render_widget(Paragraph::new(lines), area);
}

fn draw_tabs(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![Span::raw(" ")];
    for (i, v) in View::ALL.iter().enumerate() {
        let style = if *v == app.view {
            Style::default()
                .fg(t.tab_active)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED)
        } else {
            t.fg(t.muted)
        };
        let count = match v {
            View::Pending => format!(" {}", app.world.pending_count),
            View::Plans => {
                let waiting = app
                    .world
                    .plans
                    .iter()
                    .filter(|x| x.state() == State::Previewed)
                    .count();
                if waiting > 0 {
                    format!(" {waiting}!")
                } else {
                    String::new()
                }
            }
            _ => String::new(),
        };
        spans.push(Span::styled(
            format!(" {} {}{count} ", i + 1, v.name()),
            style,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn block<'a>(t: &Theme, title: String) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.fg(t.border))
        .title(Span::styled(title, t.title()))
}

/// The first visible row, so that `selected` stays on screen.
fn window(selected: usize, rows: usize, visible: usize) -> (usize, usize) {
    let visible = visible.max(1);
    let offset = selected
        .saturating_sub(visible - 1)
        .min(rows.saturating_sub(visible));
    (offset, (offset + visible).min(rows))
}

/// A table over `rows` rows where only the visible ones are built.
#[allow(clippy::too_many_arguments)]
fn windowed_table<'a>(
    f: &mut Frame,
    t: &Theme,
    area: Rect,
    title: String,
    header: &[&'a str],
    widths: &[Constraint],
    rows: usize,
    selected: usize,
    mut build: impl FnMut(usize) -> Row<'a>,
) {
    let visible = area.height.saturating_sub(3) as usize;
    let (start, end) = window(selected, rows, visible);
    let body: Vec<Row> = (start..end)
        .map(|i| {
            let row = build(i);
            if i == selected {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let header = Row::new(header.iter().map(|h| Cell::from(*h))).style(t.title());
    let table = Table::new(body, widths.to_vec())
        .header(header)
        .block(block(t, title))
        .column_spacing(1);
    f.render_widget(table, area);
}

fn status_span(t: &Theme, row: &NodeRow, now: chrono::DateTime<chrono::Utc>) -> Span<'static> {
    match &row.status {
        NodeStatus::Interrupted(d) => Span::styled(
            format!("INTERRUPTED {}s", (*d - now).num_seconds().max(0)),
            t.fg(t.critical).add_modifier(Modifier::BOLD),
        ),
        NodeStatus::Retiring(d) => Span::styled(
            format!("RETIRING in {}", age((*d - now).num_seconds().max(0))),
            t.fg(t.critical),
        ),
        NodeStatus::Disrupting(plan) => {
            Span::styled(format!("disrupting ({plan})"), t.fg(t.disrupting))
        }
        NodeStatus::Cordoned => Span::styled("cordoned", t.fg(t.cordoned)),
        NodeStatus::NotReady => Span::styled("NotReady", t.fg(t.warn)),
        NodeStatus::Launching(s) => Span::styled(*s, t.fg(t.launching)),
        NodeStatus::RebalanceRecommended => Span::styled("rebalance rec.", t.fg(t.warn)),
        NodeStatus::Expired => Span::styled("expired", t.fg(t.disrupting)),
        NodeStatus::Expiring(at) => Span::styled(
            format!("expires in {}", age((*at - now).num_seconds().max(0))),
            t.fg(t.warn),
        ),
        NodeStatus::Drifted => Span::styled("drifted", t.fg(t.warn)),
        NodeStatus::Ready => Span::styled("Ready", t.fg(t.ok)),
    }
}

fn capacity_span(t: &Theme, c: Option<CapacityType>) -> Span<'static> {
    match c {
        Some(CapacityType::Spot) => Span::styled("spot", t.fg(t.spot)),
        Some(CapacityType::OnDemand) => Span::styled("on-demand", t.fg(t.on_demand)),
        Some(other) => Span::styled(other.as_str().to_string(), t.text()),
        None => Span::styled("-", t.fg(t.muted)),
    }
}

fn draw_nodes(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows = app.node_rows();
    let selected = app.node_selection_in(&rows);
    let detail_height = if area.height > 16 { 8 } else { 0 };
    let [table, detail] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(detail_height)]).areas(area);
    // Columns give way on narrow terminals, least useful first.
    let w = area.width;
    let show = |col: &str| match col {
        "AGE" => w >= 130,
        "ZONE" => w >= 110,
        "POOL" | "$/H" => w >= 95,
        _ => true,
    };
    let columns: Vec<(&str, Constraint)> = [
        ("NAME", Constraint::Min(13)),
        ("POOL", Constraint::Length(8)),
        ("TYPE", Constraint::Length(11)),
        ("ZONE", Constraint::Length(15)),
        ("AGE", Constraint::Length(4)),
        ("CAP", Constraint::Length(9)),
        ("PODS", Constraint::Length(5)),
        ("CPU", Constraint::Length(9)),
        ("MEM", Constraint::Length(9)),
        ("$/H", Constraint::Length(6)),
        ("STATUS", Constraint::Length(16)),
    ]
    .into_iter()
    .filter(|(c, _)| show(c))
    .collect();
    let header: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
    let widths: Vec<Constraint> = columns.iter().map(|(_, w)| *w).collect();
    let title = format!(
        " nodes ({}{}, sorted by {}) ",
        rows.len(),
        if app.filter.is_empty() {
            String::new()
        } else {
            format!(" matching /{}", app.filter)
        },
        app.sort.name()
    );
    let now = app.world.now;
    windowed_table(
        f,
        t,
        table,
        title,
        &header,
        &widths,
        rows.len(),
        selected,
        |i| {
            let n = rows[i];
            let marked = if app.marks.contains(&n.name) {
                "●"
            } else {
                ""
            };
            let cells = header.iter().map(|col| match *col {
                "NAME" => Cell::from(format!("{marked}{}", short_name(&n.name))),
                "POOL" => Cell::from(n.pool.clone()),
                "TYPE" => Cell::from(n.instance_type.clone()),
                "ZONE" => Cell::from(n.zone.clone()),
                "AGE" => Cell::from(age(n.age)),
                "CAP" => Cell::from(capacity_span(t, n.capacity)),
                "PODS" => Cell::from(format!("{}/{}", n.pods, n.max_pods)),
                "CPU" => Cell::from(usage_cell(usage_percent(n.cpu))),
                "MEM" => Cell::from(usage_cell(usage_percent(n.memory))),
                "$/H" => Cell::from(n.price.map_or("-".into(), |p| format!("{p:.4}"))),
                _ => Cell::from(status_span(t, n, now)),
            });
            Row::new(cells.collect::<Vec<_>>())
        },
    );
    if detail_height == 0 {
        return;
    }
    let text: Vec<Line> = match rows.get(selected) {
        None => vec![Line::from("no node selected")],
        Some(n) => {
            let mut lines = vec![Line::from(vec![
                Span::styled(format!("{} ", n.name), t.title()),
                Span::styled(
                    format!(
                        "{} {} {}  cpu {}m/{}m  memory {}Mi/{}Mi",
                        n.instance_type,
                        n.zone,
                        n.capacity.map_or("-", |c| c.as_str()),
                        n.cpu.0,
                        n.cpu.1,
                        n.memory.0 >> 20,
                        n.memory.1 >> 20
                    ),
                    t.fg(t.muted),
                ),
            ])];
            if n.pods_on.is_empty() && n.pods > 0 {
                lines.push(Line::from(Span::styled(
                    format!("  listing {} pods…", n.pods),
                    t.fg(t.muted),
                )));
            }
            lines.extend(n.pods_on.iter().map(|p| Line::from(format!("  {p}"))));
            lines
        }
    };
    f.render_widget(
        Paragraph::new(text).block(block(t, " pods on the node ".into())),
        detail,
    );
}

fn draw_pending(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows = app.pending_rows();
    if rows.is_empty() {
        f.render_widget(
            Paragraph::new("no pod is pending").block(block(t, " pending pods ".into())),
            area,
        );
        return;
    }
    let title = format!(" pending pods ({}) grouped by why ", rows.len());
    windowed_table(
        f,
        t,
        area,
        title,
        &["WHY", "POD", "DETAIL"],
        &[
            Constraint::Length(42),
            Constraint::Length(48),
            Constraint::Min(20),
        ],
        rows.len(),
        app.selection(),
        |i| {
            let r = rows[i];
            let first = i == 0 || rows[i - 1].reason != r.reason;
            Row::new(vec![
                Cell::from(Span::styled(
                    if first {
                        r.reason.clone()
                    } else {
                        String::new()
                    },
                    t.fg(t.warn),
                )),
                Cell::from(r.pod.clone()),
                Cell::from(r.detail.join("; ")),
            ])
        },
    );
}

fn draw_pools(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let pools = app.pool_rows();
    let [table, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(9)]).areas(area);
    windowed_table(
        f,
        t,
        table,
        format!(" nodepools ({}) ", pools.len()),
        &[
            "NAME",
            "WEIGHT",
            "NODES",
            "LIMITS (used / limit)",
            "CONSOLIDATION",
            "SPOT POOLS",
        ],
        &[
            Constraint::Length(16),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Min(30),
            Constraint::Length(34),
            Constraint::Length(10),
        ],
        pools.len(),
        app.selection(),
        |i| {
            let p = pools[i];
            let limits = p
                .limits
                .iter()
                .map(|(n, used, limit)| {
                    format!(
                        "{n} {}/{}",
                        crate::model::Resources::format_one(n, *used),
                        crate::model::Resources::format_one(n, *limit)
                    )
                })
                .collect::<Vec<_>>()
                .join("  ");
            Row::new(vec![
                Cell::from(p.name.clone()),
                Cell::from(p.weight.to_string()),
                Cell::from(p.nodes.to_string()),
                Cell::from(if limits.is_empty() {
                    "none".into()
                } else {
                    limits
                }),
                Cell::from(p.consolidation.clone()),
                Cell::from(p.spot_pools.to_string()),
            ])
        },
    );
    let lines: Vec<Line> = match pools.get(app.selection()) {
        None => Vec::new(),
        Some(p) => {
            let mut lines = vec![Line::from(Span::styled("requirements", t.title()))];
            lines.extend(p.requirements.iter().map(|r| Line::from(format!("  {r}"))));
            lines.push(Line::from(Span::styled("disruption budgets", t.title())));
            if p.budgets.is_empty() {
                lines.push(Line::from(
                    "  none (a legacy Provisioner, or the default 10%)",
                ));
            }
            lines.extend(p.budgets.iter().map(|b| Line::from(format!("  {b}"))));
            if !p.holds.is_empty() {
                lines.push(Line::from(Span::styled("karpdeck's holds", t.title())));
                for h in &p.holds {
                    lines.push(Line::from(Span::styled(
                        format!(
                            "  {} by {} since {}",
                            h.kind.as_str(),
                            h.by,
                            h.since.format("%Y-%m-%d %H:%M")
                        ),
                        t.fg(t.badge_hold),
                    )));
                }
                lines.push(Line::from(Span::styled(
                    "  does NOT stop: expiry, Spot interruption, node repair, manual deletion",
                    t.fg(t.warn),
                )));
            }
            lines
        }
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(t, " the nodepool ".into())),
        detail,
    );
}

/// The freeze as the header says it: since when, by whom, on how many NodePools.
fn frozen(w: &super::world::World) -> Option<String> {
    let holds: Vec<&crate::model::Hold> = w
        .pools
        .iter()
        .flat_map(|p| p.holds.iter())
        .filter(|h| h.kind == crate::model::HoldKind::Freeze)
        .collect();
    let first = holds.iter().min_by_key(|h| h.since)?;
    Some(format!(
        "since {} by {} ({} of {} nodepools)",
        first.since.format("%H:%M"),
        first.by,
        holds.len(),
        w.pools.iter().filter(|p| !p.provisioner).count()
    ))
}

/// The tree's top level: each NodePool, then `-` for nodes no NodePool manages.
/// NodePool → Node → Pod items. Pods are built only for opened nodes (a closed node shows one
/// placeholder), so building costs the nodes, not the cluster's pods.
fn tree_items(
    app: &App,
    opened: &std::collections::HashSet<Vec<String>>,
) -> Vec<TreeItem<'static, String>> {
    let mut items = Vec::new();
    for pool in &app.world.pool_names {
        let mut nodes = Vec::new();
        for n in app.world.nodes.iter().filter(|n| &n.pool == pool) {
            let path = vec![pool.clone(), n.name.clone()];
            // Names come with the data once the node is opened; until then, a count.
            let pods: Vec<TreeItem<String>> = if opened.contains(&path) && !n.pods_on.is_empty() {
                n.pods_on
                    .iter()
                    .map(|p| TreeItem::new_leaf(p.clone(), p.clone()))
                    .collect()
            } else if n.pods == 0 {
                Vec::new()
            } else {
                vec![TreeItem::new_leaf(
                    format!("{}/…", n.name),
                    format!("{} pods", n.pods),
                )]
            };
            let label = format!("{} ({} pods, {})", n.name, n.pods, n.instance_type);
            if let Ok(item) = TreeItem::new(n.name.clone(), label, pods) {
                nodes.push(item);
            }
        }
        let label = if pool == "-" {
            format!("not managed by Karpenter ({} nodes)", nodes.len())
        } else {
            format!("nodepool {pool} ({} nodes)", nodes.len())
        };
        if let Ok(item) = TreeItem::new(pool.clone(), label, nodes) {
            items.push(item);
        }
    }
    items
}

fn draw_tree(f: &mut Frame, app: &mut App, area: Rect) {
    let t = app.theme;
    if app.tree.selected().is_empty() {
        for pool in &app.world.pool_names {
            app.tree.open(vec![pool.clone()]);
        }
        app.tree.select_first();
    }
    let stale = app
        .tree_items
        .as_ref()
        .is_none_or(|(o, _)| o != app.tree.opened());
    if stale {
        let opened = app.tree.opened().clone();
        let items = tree_items(app, &opened);
        app.tree_items = Some((opened, items));
    }
    let Some((_, items)) = &app.tree_items else {
        return;
    };
    match Tree::new(items) {
        Ok(tree) => {
            let tree = tree
                .block(block(
                    &t,
                    " nodepool → node → pod (enter opens/closes) ".into(),
                ))
                .highlight_style(t.selected());
            f.render_stateful_widget(tree, area, &mut app.tree);
        }
        Err(e) => f.render_widget(Paragraph::new(format!("cannot draw the tree: {e}")), area),
    }
}

fn draw_spot(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows = app.spot_rows();
    let diversity = app.world.diversity.len() as u16;
    let [table, spread, timeline] = Layout::vertical([
        Constraint::Min(4),
        Constraint::Length(if diversity == 0 { 0 } else { diversity + 2 }),
        Constraint::Length(8),
    ])
    .areas(area);
    draw_diversity(f, app, spread);
    windowed_table(
        f,
        t,
        table,
        format!(" spot pools in use or interrupted ({}) ", rows.len()),
        &[
            "TYPE",
            "ZONE",
            "NODES",
            "ADVISOR",
            "$/H",
            "PRICE (5-min steps)",
            "WARNINGS",
            "REBALANCE",
            "SCHEDULED",
        ],
        &[
            Constraint::Length(14),
            Constraint::Length(16),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(20),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
        ],
        rows.len(),
        app.selection(),
        |i| {
            let r = rows[i];
            Row::new(vec![
                Cell::from(r.instance_type.clone()),
                Cell::from(r.zone.clone()),
                Cell::from(r.nodes.to_string()),
                Cell::from(r.bucket.clone()),
                Cell::from(r.price.map_or("-".into(), |p| format!("{p:.4}"))),
                Cell::from(Span::styled(sparkline(&r.history, 18), t.fg(t.gauge))),
                Cell::from(r.signals.interruptions.to_string()),
                Cell::from(r.signals.rebalances.to_string()),
                Cell::from(r.signals.scheduled.to_string()),
            ])
        },
    );
    let recent: Vec<Line> = app
        .world
        .spot_events
        .iter()
        .map(|e| Line::from(e.as_str()))
        .collect();
    let recent = if recent.is_empty() {
        vec![Line::from(
            "no interruption, rebalance recommendation or scheduled change yet",
        )]
    } else {
        recent
    };
    f.render_widget(
        Paragraph::new(recent).block(block(t, " recent EC2 signals ".into())),
        timeline,
    );
}

/// Per Spot NodePool: the Spot pools its nodes use out of those its requirements allow, and
/// whether it is below the best-practice floor of types and families.
fn draw_diversity(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let t = &app.theme;
    let lines: Vec<Line> = app
        .world
        .diversity
        .iter()
        .map(|d| {
            let in_use = app
                .world
                .pools
                .iter()
                .find(|p| p.name == d.nodepool)
                .map_or(0, |p| p.spot_pools);
            let mut spans = vec![
                Span::styled(format!("{:<14}", d.nodepool), t.title()),
                Span::raw(format!(
                    "{in_use} Spot pool(s) in use of {} allowed ({} types, {} families)",
                    d.pools, d.types, d.families
                )),
            ];
            if d.is_thin() {
                spans.push(Span::styled(
                    format!(
                        "  thin: widen to ≥{} types in ≥{} families",
                        crate::engine::advisor::MIN_SPOT_TYPES,
                        crate::engine::advisor::MIN_SPOT_FAMILIES
                    ),
                    t.fg(t.warn),
                ));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block(t, " diversity per NodePool ".into())),
        area,
    );
}

/// Step `i`'s marker: ✓ done, ↻ passed over after a refusal (retried by the wait step),
/// ▶ under way, · not yet.
fn step_marker(t: &Theme, x: &PlanStatus, i: usize) -> Span<'static> {
    let running = x.state().is_running();
    if x.passed_over(i) {
        Span::styled(" ↻ ", t.fg(t.critical))
    } else if i < x.current() {
        Span::styled(" ✓ ", t.fg(t.ok))
    } else if running && i == x.current() {
        Span::styled(" ▶ ", t.fg(t.warn))
    } else {
        Span::styled(" · ", t.fg(t.muted))
    }
}

fn state_style(t: &Theme, s: State) -> Style {
    match s {
        State::Previewed => t.fg(t.warn).add_modifier(Modifier::BOLD),
        State::Approved | State::Executing => t.fg(t.launching),
        State::Done => t.fg(t.ok),
        State::Failed => t.fg(t.critical),
        State::Cancelled | State::Rejected | State::Withdrawn => t.fg(t.muted),
    }
}

/// Observe mode: what karpdeck expects Karpenter to do next, and what Karpenter did, each
/// matched against the predictions.
fn draw_observed(f: &mut Frame, app: &App, expected: &[(i64, String)], area: Rect) {
    use crate::control::Verdict;
    let t = &app.theme;
    let mut lines = Vec::new();
    for (plan, left) in &app.world.unfinished {
        lines.push(Line::from(Span::styled(
            format!(
                "unfinished when karpdeck stopped: {plan} — :resume {} plans it again",
                plan.split(' ').next().unwrap_or_default()
            ),
            t.fg(t.warn).add_modifier(Modifier::BOLD),
        )));
        lines.extend(
            left.iter()
                .map(|l| Line::from(Span::styled(format!("  {l}"), t.fg(t.warn)))),
        );
    }
    lines.push(Line::from(Span::styled(
        "Karpenter acts; karpdeck predicts its next moves every pass and checks what it does",
        t.fg(t.muted),
    )));
    if expected.is_empty() {
        lines.push(Line::from(Span::raw(
            "next: nothing (no pending pod needs a node, no node to disrupt)",
        )));
    }
    for (age, what) in expected {
        lines.push(Line::from(vec![
            Span::styled("next  ", t.title()),
            Span::raw(what.clone()),
            Span::styled(format!("  (expected for {age}s)"), t.fg(t.muted)),
        ]));
    }
    for (time, said) in &app.world.karpenter_said {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", time.format("%H:%M:%S")), t.fg(t.muted)),
            Span::styled(format!("{:<23}", "karpenter said"), t.fg(t.muted)),
            Span::raw(said.clone()),
        ]));
    }
    for o in &app.world.outcomes {
        let style = match o.verdict {
            Verdict::Predicted => t.fg(t.ok),
            Verdict::NotPredicted => t.fg(t.warn),
            Verdict::PredictedNotDone => t.fg(t.critical),
            Verdict::Operator | Verdict::Withdrawn => t.fg(t.muted),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", o.time.format("%H:%M:%S")), t.fg(t.muted)),
            Span::styled(format!("{:<23}", o.verdict.as_str()), style),
            Span::raw(o.summary.clone()),
        ]));
    }
    f.render_widget(
        Paragraph::new(lines).block(block(
            t,
            " Karpenter, observed: next moves and what it did ".into(),
        )),
        area,
    );
}

fn draw_plans(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let rows = app.plan_rows();
    let selected = app.plan_selection_in(&rows);
    let [table, detail] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    windowed_table(
        f,
        t,
        table,
        if app.approvals_offered() {
            format!(
                " plans ({}), newest first — {} approve, {} reject, {} cancel ",
                rows.len(),
                app.keymap.keys_for(KeyAction::Approve),
                app.keymap.keys_for(KeyAction::Reject),
                app.keymap.keys_for(KeyAction::CancelAction)
            )
        } else {
            format!(
                " plans ({}), newest first — previews only (read-only) ",
                rows.len()
            )
        },
        &["ID", "KIND", "STATE", "PROGRESS", "SUMMARY"],
        &[
            Constraint::Length(6),
            Constraint::Length(21),
            Constraint::Length(10),
            Constraint::Length(16),
            Constraint::Min(30),
        ],
        rows.len(),
        selected,
        |i| {
            let x = rows[i];
            let (done, total) = x.progress();
            let marked = if app.marks.contains(&x.action().id) {
                "●"
            } else {
                ""
            };
            Row::new(vec![
                Cell::from(format!("{marked}{}", x.action().id)),
                Cell::from(x.action().kind.as_str()),
                Cell::from(Span::styled(x.state().as_str(), state_style(t, x.state()))),
                Cell::from(format!(
                    "{} {done}/{total}",
                    bar(usage_percent((done as i64, total as i64)), 8)
                )),
                Cell::from(x.action().summary.clone()),
            ])
        },
    );
    // Observing, Karpenter's moves stay in sight beside the operator's own plans.
    let detail = match (&app.world.expected, rows.is_empty()) {
        (Some(expected), false) => {
            let [plan, observed] =
                Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(detail);
            draw_observed(f, app, expected, observed);
            plan
        }
        _ => detail,
    };
    let Some(x) = rows.get(selected) else {
        match &app.world.expected {
            Some(expected) => draw_observed(f, app, expected, detail),
            None => f.render_widget(
                Paragraph::new("no plan yet: karpdeck proposes every 10 s, or press d on a node")
                    .block(block(t, " the plan ".into())),
                detail,
            ),
        }
        return;
    };
    let a = x.action();
    let (done, total) = x.progress();
    let pods = app.world.pod_progress.get(&a.id);
    let (detail, pods_area) = match pods {
        Some(p) if !p.is_empty() && detail.width >= 90 => {
            // Room for "terminating " and a Deployment pod's name.
            let width = 64.min(detail.width / 2);
            let [steps, pods] =
                Layout::horizontal([Constraint::Min(40), Constraint::Length(width)]).areas(detail);
            (steps, Some(pods))
        }
        _ => (detail, None),
    };
    if let (Some(area), Some(pods)) = (pods_area, pods) {
        draw_pod_progress(f, t, pods, area);
    }
    let running = x.state().is_running();
    let frame = block(t, " the plan: steps ".into());
    let inner = frame.inner(detail);
    f.render_widget(frame, detail);
    let [gauge, detail] = if running {
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner)
    } else {
        [Rect::default(), inner]
    };
    if running {
        f.render_widget(
            LineGauge::default()
                .filled_style(t.fg(t.gauge))
                .unfilled_style(t.fg(t.muted))
                .label(format!(
                    "{} step {}/{total}, {done} done",
                    a.id,
                    (x.current() + 1).min(total)
                ))
                .ratio(done as f64 / total.max(1) as f64),
            gauge,
        );
    }
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{} {} ", a.id, a.kind.as_str()), t.title()),
        Span::styled(x.state().as_str(), state_style(t, x.state())),
        Span::styled(format!("  targets {}", a.targets.join(", ")), t.fg(t.muted)),
    ])];
    if let Some((why, n)) = x.blocked() {
        lines.push(Line::from(Span::styled(
            format!("blocked ({n} attempts): {why}"),
            t.fg(t.critical),
        )));
    }
    if let Some(r) = x.report() {
        lines.push(Line::from(Span::styled(r.to_string(), t.fg(t.muted))));
    }
    lines.push(Line::from(Span::raw(a.summary.clone())));
    if x.state() == State::Previewed {
        lines.extend(a.last_replicas.iter().map(|l| {
            Line::from(Span::styled(
                format!(" ! LAST REPLICA {l}"),
                t.fg(t.critical).add_modifier(Modifier::BOLD),
            ))
        }));
        lines.extend(
            a.preview
                .iter()
                .map(|l| Line::from(Span::styled(format!("   {l}"), t.fg(t.muted)))),
        );
    }
    for i in 0..a.steps.len() {
        lines.push(Line::from(vec![
            step_marker(t, x, i),
            Span::raw(a.describe(i)),
        ]));
    }
    // Scrolled in screen rows, wrapped lines counted as the rows they take: the current step
    // stays in sight with two rows after it.
    let width = (detail.width as usize).max(1);
    let rows = |l: &Line| l.width().div_ceil(width).max(1);
    let current = lines.len() - a.steps.len() + x.current().min(a.steps.len());
    let before: usize = lines[..current.min(lines.len())].iter().map(rows).sum();
    let total: usize = lines.iter().map(rows).sum();
    let visible = detail.height as usize;
    let skip = (before + 3)
        .saturating_sub(visible)
        .min(total.saturating_sub(visible));
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((skip.min(u16::MAX as usize) as u16, 0)),
        detail,
    );
}

/// Each pod of a drain-like action and where it is: waiting, evicting, refused, terminating,
/// gone, or stayed when the action ended.
fn draw_pod_progress(f: &mut Frame, t: &Theme, pods: &[(String, PodProgress)], area: Rect) {
    let gone = pods.iter().filter(|(_, p)| *p == PodProgress::Gone).count();
    let lines: Vec<Line> = pods
        .iter()
        .map(|(pod, p)| {
            let color = match p {
                PodProgress::Gone => t.ok,
                PodProgress::Terminating | PodProgress::Evicting => t.warn,
                PodProgress::Stayed | PodProgress::Refused => t.critical,
                PodProgress::Waiting => t.muted,
            };
            Line::from(vec![
                Span::styled(format!("{:<12}", p.as_str()), t.fg(color)),
                Span::raw(pod.clone()),
            ])
        })
        .collect();
    f.render_widget(
        Paragraph::new(lines).block(block(t, format!(" pods: {gone}/{} gone ", pods.len()))),
        area,
    );
}

fn draw_journal(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Some(path) = &app.journal_path else {
        f.render_widget(
            Paragraph::new("no journal is kept in this session")
                .block(block(t, " journal ".into())),
            area,
        );
        return;
    };
    if let Some(e) = &app.journal_error {
        f.render_widget(
            Paragraph::new(e.clone()).block(block(t, " journal ".into())),
            area,
        );
        return;
    }
    let entries = app.journal_rows();
    windowed_table(
        f,
        t,
        area,
        format!(
            " journal {} ({} lines, newest first) ",
            path.file_name()
                .map_or(path.display().to_string(), |n| n.to_string_lossy().into()),
            entries.len()
        ),
        &["TIME", "PLAN", "ACTION", "OUTCOME", "STEP / DETAIL"],
        &[
            Constraint::Length(9),
            Constraint::Length(6),
            Constraint::Length(12),
            Constraint::Length(13),
            Constraint::Min(30),
        ],
        entries.len(),
        app.selection(),
        |i| {
            let e = entries[i];
            Row::new(vec![
                Cell::from(e.time.format("%H:%M:%S").to_string()),
                Cell::from(e.plan.clone()),
                Cell::from(e.action.clone()),
                Cell::from(e.outcome.as_str()),
                Cell::from(e.subject()),
            ])
        },
    );
}

fn draw_footer(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let line = match &app.mode {
        Mode::Filter => Line::from(vec![
            Span::styled("/", t.title()),
            Span::raw(app.filter.clone()),
            Span::styled("▏ enter keeps, esc clears", t.fg(t.muted)),
        ]),
        Mode::Command(text) => {
            let hint = COMMANDS
                .iter()
                .filter(|c| c.starts_with(text.as_str()))
                .take(6)
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            Line::from(vec![
                Span::styled(":", t.title()),
                Span::raw(text.clone()),
                Span::styled(format!("▏ tab: {hint}"), t.fg(t.muted)),
            ])
        }
        _ => {
            let approve = if app.approvals_offered() {
                format!("  {} approve", app.keymap.keys_for(KeyAction::Approve))
            } else {
                String::new()
            };
            Line::from(vec![
                Span::styled(format!(" {} ", app.status), t.text()),
                Span::styled(
                    format!(
                        " {} help  {} filter  {} command{approve}  {} quit",
                        app.keymap.keys_for(KeyAction::Help),
                        app.keymap.keys_for(KeyAction::Filter),
                        app.keymap.keys_for(KeyAction::Command),
                        app.keymap.keys_for(KeyAction::Quit)
                    ),
                    t.fg(t.muted),
                ),
            ])
        }
    };
    f.render_widget(Paragraph::new(line), area);
}

/// A centred box `w`×`h` (clamped to the screen).
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_help(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    // Settings warnings first: they are why the status line sent the operator here.
    let mut lines: Vec<Line> = app
        .warnings
        .iter()
        .map(|w| Line::from(Span::styled(format!(" ! {}", w.0), t.fg(t.warn))))
        .collect();
    for a in KeyAction::ALL {
        let refused = if !app.approvals_offered()
            && matches!(a, KeyAction::Approve | KeyAction::ApproveAll)
        {
            Some("not in read-only mode".to_string())
        } else {
            crate::ui::app::proposal_of(*a).and_then(|kind| app.not_permitted(&kind))
        };
        lines.push(if let Some(why) = refused {
            Line::from(Span::styled(
                format!(" {:<16}{} — {why}", app.keymap.keys_for(*a), a.describe()),
                t.fg(t.muted),
            ))
        } else {
            Line::from(vec![
                Span::styled(format!(" {:<16}", app.keymap.keys_for(*a)), t.title()),
                Span::raw(a.describe()),
            ])
        });
    }
    lines.push(Line::from(Span::styled(
        " 1-7 jump to a view; enter opens a tree branch; commands: :nodes :plans :drain NODE [--force …] :approve ID :q",
        t.fg(t.muted),
    )));
    let r = centred(area, 100, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(t, " keys (any key closes) ".into())),
        r,
    );
}

fn draw_whatif(f: &mut Frame, app: &App, lines: &[String], area: Rect) {
    let t = &app.theme;
    let text: Vec<Line> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                Line::from(Span::styled(l.clone(), t.title()))
            } else {
                Line::from(l.clone())
            }
        })
        .collect();
    let r = centred(area, 100, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: false })
            .block(block(t, " what-if preview ".into())),
        r,
    );
}

fn draw_confirm(f: &mut Frame, app: &App, area: Rect) {
    let t = &app.theme;
    let Mode::Confirm {
        plans,
        reject,
        expect,
        typed,
    } = &app.mode
    else {
        return;
    };
    // The prompt comes first: a long list of plans must not push it off the screen.
    let mut lines = Vec::new();
    if *reject {
        lines.push(Line::from(Span::styled(
            "rejecting an interruption response leaves the node to EC2's deadline: press y to reject, esc to abandon",
            t.fg(t.critical),
        )));
    } else if expect.is_empty() {
        lines.push(Line::from(Span::styled(
            "press y to approve, esc to abandon",
            t.fg(t.warn),
        )));
    } else {
        let prompt = if expect == LAST_REPLICA_CONFIRMATION {
            "this evicts the last running replica of a workload (below)"
        } else {
            "this evicts or deletes"
        };
        lines.push(Line::from(Span::styled(
            format!("{prompt}: type \"{expect}\" and enter to approve, esc to abandon"),
            t.fg(t.critical),
        )));
        lines.push(Line::from(format!("> {typed}▏")));
    }
    lines.push(Line::from(""));
    for p in plans {
        if let Some(x) = app.world.plan(p) {
            lines.push(Line::from(vec![
                Span::styled(format!("{p} {} ", x.action().kind.as_str()), t.title()),
                Span::raw(x.action().summary.clone()),
            ]));
            lines.extend(
                x.action()
                    .last_replicas
                    .iter()
                    .map(|l| Line::from(Span::styled(format!("  ! {l}"), t.fg(t.critical)))),
            );
        }
    }
    let r = centred(area, 96, lines.len() as u16 + 4);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(
                t,
                if *reject { " reject? " } else { " approve? " }.into(),
            )),
        r,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_ages_windows_and_sparklines() {
        assert_eq!(bar(0, 4), "░░░░");
        assert_eq!(bar(51, 4), "███░");
        assert_eq!(bar(250, 4), "████");
        assert_eq!(age(59), "59s");
        assert_eq!(age(3 * 3600), "3h");
        assert_eq!(window(0, 100, 10), (0, 10));
        assert_eq!(window(15, 100, 10), (6, 16));
        assert_eq!(window(99, 100, 10), (90, 100));
        assert_eq!(window(3, 2, 10), (0, 2));
        assert_eq!(sparkline(&[1.0, 1.0], 5), "▅▅", "flat: mid-height");
        assert_eq!(sparkline(&[1.0, 2.0, 1.5], 5), "▁█▅");
        assert_eq!(elapsed(3725), "+1:02:05");
    }
}
