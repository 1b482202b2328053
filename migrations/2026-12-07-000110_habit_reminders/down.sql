DROP TABLE habit_reminder_deliveries;
DROP TABLE habit_reminders;
