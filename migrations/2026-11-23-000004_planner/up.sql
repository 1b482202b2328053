-- Themes, habits with their completions, and a per-user task board. All rows are owned by a user.
CREATE TABLE themes (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 40),
    color      TEXT        NOT NULL CHECK (color ~ '^#[0-9A-F]{6}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX themes_user_name_key ON themes (user_id, lower(name));
CREATE UNIQUE INDEX themes_user_color_key ON themes (user_id, color);

-- schedule holds the kind's parameters, e.g. {"days": [0, 4]} for WEEKLY (0 = Monday).
CREATE TABLE habits (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    theme_id    BIGINT      REFERENCES themes (id) ON DELETE SET NULL,
    kind        TEXT        NOT NULL CHECK (kind IN ('DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY', 'INTERVAL')),
    schedule    JSONB       NOT NULL DEFAULT '{}',
    starts_on   DATE        NOT NULL,
    ends_on     DATE        CHECK (ends_on >= starts_on),
    archived_at TIMESTAMPTZ,
    -- Archived because ends_on passed (not by hand): moving ends_on forward revives it.
    auto_archived BOOLEAN   NOT NULL DEFAULT FALSE CHECK (NOT auto_archived OR archived_at IS NOT NULL),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX habits_user_id_idx ON habits (user_id, id);
CREATE INDEX habits_theme_id_idx ON habits (theme_id);
-- The auto-archive job's candidates.
CREATE INDEX habits_ends_on_idx ON habits (ends_on) WHERE archived_at IS NULL AND ends_on IS NOT NULL;

CREATE TABLE habit_completions (
    habit_id     BIGINT      NOT NULL REFERENCES habits (id) ON DELETE CASCADE,
    completed_on DATE        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (habit_id, completed_on)
);

-- Positions are dense within a (user, status) column; the uniqueness is checked at commit so a
-- reorder can shift a column in one transaction.
CREATE TABLE tasks (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  TEXT        NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    priority     TEXT        NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('LOW', 'MEDIUM', 'HIGH')),
    status       TEXT        NOT NULL DEFAULT 'TODO' CHECK (status IN ('TODO', 'IN_PROGRESS', 'DONE')),
    position     INT         NOT NULL CHECK (position >= 0),
    due_on       DATE,
    theme_id     BIGINT      REFERENCES themes (id) ON DELETE SET NULL,
    completed_at TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((status = 'DONE') = (completed_at IS NOT NULL)),
    CONSTRAINT tasks_column_position_key UNIQUE (user_id, status, position) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX tasks_theme_id_idx ON tasks (theme_id);

INSERT INTO permissions (name, description, is_system) VALUES
    ('habits:manage', 'Keep one''s own habits and see one''s statistics', TRUE),
    ('tasks:manage', 'Keep one''s own task board', TRUE),
    ('themes:manage', 'Keep one''s own themes', TRUE);

INSERT INTO role_permissions (role_id, permission_id)
SELECT r.id, p.id FROM roles r JOIN permissions p ON p.name IN ('habits:manage', 'tasks:manage', 'themes:manage')
WHERE r.name IN ('admin', 'user');
