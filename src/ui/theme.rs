//! Colors by role. Three themes are embedded (`themes/*.toml`); a user `theme.toml` overrides
//! any subset of roles.

use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

use super::settings::{embedded, parse_table, section, Warning};

/// The embedded themes, by name.
pub const THEMES: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

macro_rules! roles {
    ($($role:ident: $doc:literal),* $(,)?) => {
        /// A color for each role.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Theme {
            $(#[doc = $doc] pub $role: Color,)*
        }

        impl Theme {
            /// Every role's name, as the files spell it.
            pub const ROLES: &'static [&'static str] = &[$(stringify!($role)),*];

            fn slot(&mut self, name: &str) -> Option<&mut Color> {
                match name {
                    $(stringify!($role) => Some(&mut self.$role),)*
                    _ => None,
                }
            }
        }

        impl Default for Theme {
            fn default() -> Self {
                Self { $($role: Color::Reset,)* }
            }
        }
    };
}

roles! {
    text: "Ordinary text.",
    muted: "Secondary text.",
    title: "Titles.",
    border: "Borders.",
    selected_fg: "The selected row's text.",
    selected_bg: "The selected row's background.",
    tab_active: "The active view's tab.",
    ok: "Healthy, ready, done.",
    warn: "Needs attention.",
    critical: "Failing, blocked, over a limit.",
    spot: "Spot capacity.",
    on_demand: "On-demand capacity.",
    cordoned: "Cordoned nodes.",
    disrupting: "Nodes being disrupted or interrupted.",
    launching: "NodeClaims on their way.",
    badge_fg: "Badge text.",
    badge_read_only: "The READ-ONLY badge.",
    badge_mode: "The mode badge.",
    badge_hold: "The FROZEN badge: karpdeck holds Karpenter back.",
    gauge: "Gauges and bars.",
}

impl Theme {
    /// An embedded theme by name, with `user` (a theme.toml's text) over it. Unknown names,
    /// unknown roles and bad colors are warnings.
    pub fn load(name: &str, user: Option<(&str, &str)>, warnings: &mut Vec<Warning>) -> Self {
        let base = embedded("theme", name, THEMES, warnings);
        let mut theme = Self::default();
        theme.apply("themes/default.toml", THEMES[0].1, warnings);
        theme.apply(&format!("themes/{name}.toml"), base, warnings);
        if let Some((file, text)) = user {
            theme.apply(file, text, warnings);
        }
        theme
    }

    /// Set the roles a file names.
    fn apply(&mut self, file: &str, text: &str, warnings: &mut Vec<Warning>) {
        let table = parse_table(file, text, warnings);
        let Some(colors) = section(file, &table, "colors", warnings) else {
            return;
        };
        for (key, value) in colors {
            let at = format!("colors.{key}");
            let Some(slot) = self.slot(key) else {
                warnings.push(Warning::new(file, &at, "unknown role; ignored"));
                continue;
            };
            match value.as_str().map(Color::from_str) {
                Some(Ok(c)) => *slot = c,
                _ => warnings.push(Warning::new(
                    file,
                    &at,
                    format!("{value} is not a color (a name, 0-255 or #rrggbb); ignored"),
                )),
            }
        }
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::default().fg(self.text)
    }

    /// Text in a role's color.
    pub fn fg(&self, color: Color) -> Style {
        Style::default().fg(color)
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::default()
            .fg(self.selected_fg)
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD)
    }

    /// A badge on `color`.
    pub fn badge(&self, color: Color) -> Style {
        Style::default()
            .fg(self.badge_fg)
            .bg(color)
            .add_modifier(Modifier::BOLD)
    }

    /// Titles.
    pub fn title(&self) -> Style {
        Style::default().fg(self.title).add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_themes_set_every_role_cleanly() {
        for (name, text) in THEMES {
            let mut warnings = Vec::new();
            Theme::load(name, None, &mut warnings);
            assert!(warnings.is_empty(), "{name}: {warnings:?}");
            let table: toml::Table = text.parse().unwrap();
            let colors = table["colors"].as_table().unwrap();
            for role in Theme::ROLES {
                assert!(colors.contains_key(*role), "{name} lacks {role}");
            }
        }
    }

    #[test]
    fn user_overrides_are_partial_and_bad_entries_are_named() {
        let user = "[colors]\nok = \"#00ff00\"\nwarn = \"purplish\"\nsparkle = \"red\"\n[extra]\n";
        let mut warnings = Vec::new();
        let t = Theme::load(
            "light",
            Some(("~/.config/karpdeck/theme.toml", user)),
            &mut warnings,
        );
        assert_eq!(t.ok, Color::Rgb(0, 255, 0));
        assert_eq!(
            t.warn,
            Color::Rgb(0x9a, 0x67, 0x00),
            "the light theme's, kept"
        );
        let w: Vec<&str> = warnings.iter().map(|w| w.0.as_str()).collect();
        assert_eq!(
            w,
            [
                "~/.config/karpdeck/theme.toml: extra: unknown key; ignored",
                "~/.config/karpdeck/theme.toml: colors.sparkle: unknown role; ignored",
                "~/.config/karpdeck/theme.toml: colors.warn: \"purplish\" is not a color (a name, 0-255 or #rrggbb); ignored",
            ]
        );
        let mut warnings = Vec::new();
        Theme::load("neon", Some(("t.toml", "not toml [")), &mut warnings);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
