//! A small document model every text format renders: headings, paragraphs, key/value lists, tables.

/// How a cell should read: plain, good news, bad news, or de-emphasized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Bad,
    Muted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub tone: Tone,
}

impl<T: Into<String>> From<T> for Cell {
    fn from(t: T) -> Self {
        Cell {
            text: t.into(),
            tone: Tone::Plain,
        }
    }
}

impl Cell {
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Cell {
            text: text.into(),
            tone,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: Option<String>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// columns holding numbers (right-aligned)
    pub numeric: Vec<usize>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Table {
            title: None,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: vec![],
            numeric: vec![],
        }
    }

    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn numeric(mut self, cols: &[usize]) -> Self {
        self.numeric = cols.to_vec();
        self
    }

    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading(String),
    Text(String),
    /// label: value lines; the optional tone colors the value
    KeyValues(Vec<(String, Cell)>),
    Table(Table),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    pub blocks: Vec<Block>,
}

impl Doc {
    pub fn heading(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Heading(s.into()));
    }
    pub fn text(&mut self, s: impl Into<String>) {
        self.blocks.push(Block::Text(s.into()));
    }
    pub fn kv(&mut self, pairs: Vec<(String, Cell)>) {
        self.blocks.push(Block::KeyValues(pairs));
    }
    pub fn table(&mut self, t: Table) {
        self.blocks.push(Block::Table(t));
    }
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Table(t) => Some(t),
            _ => None,
        })
    }
}
