DELETE FROM permissions WHERE name IN ('habits:manage', 'tasks:manage', 'themes:manage');
DROP TABLE tasks;
DROP TABLE habit_completions;
DROP TABLE habits;
DROP TABLE themes;
