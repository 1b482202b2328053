-- A measurable habit counts something on each scheduled day ("at least 8 glasses", "at most 2
-- coffees"): a unit, a target, and whether the target is a floor or a ceiling, kept together
-- as the schedule's parameters are. A yes/no habit has none. A day's value is kept on its
-- check-in; whether it meets the target is decided when it is read, so a new target applies to
-- the days already recorded.
ALTER TABLE habits ADD COLUMN measure JSONB CHECK (
    measure IS NULL OR (
        jsonb_typeof(measure -> 'unit') = 'string'
        AND char_length(measure ->> 'unit') <= 20
        AND jsonb_typeof(measure -> 'target') = 'number'
        AND (measure ->> 'target')::float8 BETWEEN 0 AND 1e9
        AND measure ->> 'direction' IN ('AT_LEAST', 'AT_MOST')
    )
);
-- NaN sorts above every number in PostgreSQL, so the upper bound refuses it too.
ALTER TABLE habit_completions ADD COLUMN value DOUBLE PRECISION CHECK (value >= 0 AND value <= 1e9);
