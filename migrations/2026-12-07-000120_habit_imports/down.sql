DROP TABLE habit_imports;
